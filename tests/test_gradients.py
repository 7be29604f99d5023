"""Batched Integrated Gradients (src.interpret.gradients) against captum, completeness, pass
sizes, bf16 autocast with the completeness error in fp32 terms, and the throughput record."""

import numpy as np
import pytest
import torch
from captum.attr._utils.approximation_methods import approximation_parameters
from torch import nn

from src.data.encoding import codes_to_one_hot
from src.interpret.gradients import (
    IG_METHODS,
    attribute_sequences,
    batched_integrated_gradients,
    integrated_gradients,
    path_points,
    relative_delta,
    resolve_precision,
    uniform_baseline,
)
from src.models.sei import FSei


def smooth_cnn(seed=0):
    """A small CNN whose logits move by about 1 between the baseline and a sequence."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv1d(4, 16, 9, padding=4), nn.GELU(),
                          nn.Conv1d(16, 16, 5, padding=2), nn.Tanh(), nn.AdaptiveAvgPool1d(1),
                          nn.Flatten(), nn.Linear(16, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()


def tiny_fsei(seed=0):
    """FSei at a toy width: BatchNorm (eval) and attention pooling, so samples must not mix."""
    torch.manual_seed(seed)
    model = FSei((8, 8, 8), embed_dim=8, trunk_dropout=False)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def codes(n, length, seed=0):
    return np.random.default_rng(seed).integers(1, 5, size=(n, length)).astype(np.uint8)


@pytest.mark.parametrize("method", IG_METHODS)
def test_path_points_are_captums(method):
    steps = 7
    sizes, alphas = approximation_parameters(method)
    got_alphas, got_weights = path_points(steps, method)
    np.testing.assert_allclose(got_alphas, alphas(steps), rtol=0, atol=1e-7)
    np.testing.assert_allclose(got_weights, sizes(steps), rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_batched_equals_captum_for_any_pass_size(method):
    model = smooth_cnn()
    x = codes_to_one_hot(torch.from_numpy(codes(5, 120)))
    targets = torch.tensor([0, 1, 1, 0, 1])
    reference, ref_delta, ref_change = integrated_gradients(model, x, targets, steps=12,
                                                            method=method)
    assert ref_change.abs().min() > 0.05  # the test model's logits do move
    for per_pass in (1, 5, 12, 17, 60, 1000):  # within a sequence, across sequences, all at once
        attributions, delta, change = batched_integrated_gradients(model, x, targets, 12, method,
                                                                   per_pass)
        torch.testing.assert_close(attributions, reference, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(change, ref_change, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(delta, ref_delta, atol=1e-5, rtol=1e-3)


def test_completeness_and_sample_independence():
    model = tiny_fsei()
    x = codes_to_one_hot(torch.from_numpy(codes(4, 256, seed=1)))
    targets = torch.tensor([1, 0, 1, 1])
    attributions, delta, change = batched_integrated_gradients(model, x, targets, 48,
                                                               "gausslegendre", 29)
    with torch.no_grad():
        out_x = model(x).gather(1, targets[:, None]).squeeze(1)
        out_b = model(uniform_baseline(x)).gather(1, targets[:, None]).squeeze(1)
    torch.testing.assert_close(change, out_x - out_b)
    torch.testing.assert_close(delta, attributions.sum(dim=(1, 2)) - change)
    assert (relative_delta(delta.numpy(), change.numpy()) < 0.02).all()
    alone = torch.cat([batched_integrated_gradients(model, x[i:i + 1], targets[i:i + 1], 48,
                                                    "gausslegendre", 48)[0] for i in range(4)])
    torch.testing.assert_close(alone, attributions, atol=1e-6, rtol=1e-4)


def test_bf16_keeps_the_completeness_error_in_fp32_terms():
    model = smooth_cnn(seed=2)
    x = codes_to_one_hot(torch.from_numpy(codes(3, 120, seed=3)))
    targets = torch.tensor([1, 0, 1])
    fp32, _, fp32_change = batched_integrated_gradients(model, x, targets, 16,
                                                        "gausslegendre", 48, "fp32")
    bf16, delta, change = batched_integrated_gradients(model, x, targets, 16, "gausslegendre",
                                                       48, "bf16")
    # the logit change comes from fp32 forward passes, whatever the gradients' precision
    assert torch.equal(change, fp32_change)
    torch.testing.assert_close(delta, bf16.sum(dim=(1, 2)) - change)
    assert bf16.dtype == torch.float32
    # bf16 gradients: close to fp32 (about 3 significant digits), but not equal
    assert not torch.equal(bf16, fp32)
    assert (bf16 - fp32).abs().max() < 0.05 * fp32.abs().max()


def test_attribute_sequences_batches_and_records_throughput():
    model = tiny_fsei(seed=4)
    sequences = codes(9, 200, seed=5)
    targets = np.array([0, 1] * 4 + [1])
    one = attribute_sequences(model, sequences, targets, torch.device("cpu"), steps=8,
                              batch_size=8, progress=False)
    many = attribute_sequences(model, sequences, targets, torch.device("cpu"), steps=8,
                               batch_size=30, progress=False)
    np.testing.assert_allclose(one.attributions, many.attributions, atol=1e-6, rtol=1e-4)
    np.testing.assert_allclose(one.delta, many.delta, atol=1e-6)
    assert one.attributions.shape == (9, 4, 200) and one.attributions.dtype == np.float32
    assert many.inputs_per_pass == 30 and many.precision == "fp32"  # auto on the CPU
    assert many.seconds > 0 and many.sequences_per_second == pytest.approx(9 / many.seconds)
    # against captum, sequence by sequence
    x = codes_to_one_hot(torch.from_numpy(sequences))
    reference, _, _ = integrated_gradients(model, x, torch.from_numpy(targets), steps=8)
    np.testing.assert_allclose(many.attributions, reference.numpy(), atol=1e-6, rtol=1e-4)
    assert model.training is False and next(model.parameters()).device.type == "cpu"
    empty = attribute_sequences(model, sequences[:0], targets[:0], torch.device("cpu"), 8,
                                progress=False)
    assert empty.attributions.shape == (0, 4, 200) and len(empty.delta) == 0


def test_precision_choice():
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
    with pytest.raises(ValueError):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(ValueError):
        path_points(1, "riemann_left")
    with pytest.raises(ValueError):
        path_points(8, "simpson")
