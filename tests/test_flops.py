"""src.models.flops (multiply-adds counted by forward hooks) against hand counts, and bench/gpu.py
on a machine without CUDA: its FLOP table, then its "no CUDA" line, exit status 0."""

import json
import runpy
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from src.models import build_model
from src.models.flops import count_macs, step_flops
from src.models.layers import AttentionPool
from src.models.sei import SPLINE_DF, BSplineTransformation, FSei, Sei


def test_single_layers_by_hand():
    # Conv1d: N x C_out x L_out x C_in/groups x k
    conv = nn.Conv1d(4, 8, 5, padding=2)
    assert count_macs(conv, torch.zeros(2, 4, 10)).total == 2 * 8 * 10 * 4 * 5
    grouped = nn.Conv1d(8, 6, 3, groups=2, dilation=2)  # L_out = 20 - 2 * 2 = 16
    assert count_macs(grouped, torch.zeros(3, 8, 20)).total == 3 * 6 * 16 * 4 * 3
    # Linear over leading dimensions
    assert count_macs(nn.Linear(6, 3), torch.zeros(2, 5, 6)).total == 2 * 5 * 6 * 3
    # attention pooling: the C x C projection at every position
    assert count_macs(AttentionPool(7), torch.zeros(2, 7, 11)).total == 2 * 11 * 7 * 7
    # B-splines: every channel's P positions onto 16 basis functions
    assert count_macs(BSplineTransformation(SPLINE_DF), torch.zeros(2, 5, 40)).total == \
        2 * 5 * 40 * SPLINE_DF
    # multi-head attention: q, k, v and output projections + q k^T + attention x v
    mha = nn.MultiheadAttention(16, 4, batch_first=True)
    x = torch.zeros(2, 9, 16)
    assert count_macs(mha, x, x, x).total == 4 * 2 * 9 * 16 * 16 + 2 * 2 * 9 * 9 * 16
    # element-wise layers count nothing
    assert count_macs(nn.Sequential(nn.ReLU(), nn.MaxPool1d(2)), torch.zeros(1, 4, 8)).total == 0


class SelfAttention(nn.Module):
    """DNABERT-2's layout: a fused Wqkv Linear and scaled_dot_product_attention."""

    def __init__(self, dim, heads):
        super().__init__()
        self.num_attention_heads, self.head_size = heads, dim // heads
        self.Wqkv = nn.Linear(dim, 3 * dim)

    def forward(self, hidden):
        n, t, d = hidden.shape
        q, k, v = self.Wqkv(hidden).view(n, t, 3, self.num_attention_heads, self.head_size) \
            .permute(2, 0, 3, 1, 4).unbind(0)
        return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, t, d)


class TinyEncoder(nn.Module):
    def __init__(self, vocab=50, dim=16, heads=2, hidden=24):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.attention = SelfAttention(dim, heads)
        self.out = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, dim))
        self.classifier = nn.Linear(dim, 2)

    def forward(self, input_ids):
        h = self.embed(input_ids)
        h = h + self.out(self.attention(h))
        h = h + self.mlp(h)
        return self.classifier(h[:, 0])


def test_the_native_dnabert2_by_hand():
    """Its position-wise layers run on the real tokens only, packed (nnz, D); attention runs on
    the padded (N, T) batch: the count follows what the model computes."""
    from src.models.dnabert2 import DNABert2ForSequenceClassification

    d, heads, inner, layers = 16, 2, 24, 2
    model = DNABert2ForSequenceClassification({
        "vocab_size": 40, "hidden_size": d, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": inner})
    ids = torch.randint(5, 40, (3, 10))
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 7:] = 0  # 3 padding tokens
    count = count_macs(model, ids, attention_mask=mask)
    real = int(mask.sum())
    per_token = d * 3 * d + d * d + d * 2 * inner + inner * d  # Wqkv, dense, gated, wo
    attention = 2 * 3 * heads * 10 * 10 * (d // heads)
    head = 3 * (d * d + d * 2)  # pooler and classifier on [CLS]
    assert count.total == layers * (real * per_token + attention) + head


def test_a_tiny_encoder_by_hand():
    n, t, d, heads, hidden = 3, 12, 16, 2, 24
    model = TinyEncoder(dim=d, heads=heads, hidden=hidden)
    count = count_macs(model, torch.zeros(n, t, dtype=torch.long))
    per_token = 3 * d * d + d * d + d * 2 * hidden + 2 * hidden * d
    attention = 2 * n * heads * t * t * (d // heads)  # q k^T and attention x v
    assert count.total == n * t * per_token + attention + n * d * 2
    assert count.by_module["attention"] == attention
    assert count.within("mlp") == n * t * (d * 2 * hidden + 2 * hidden * d)
    assert count.flops == 2 * count.total


def test_a_tiny_cnn_by_hand():
    model = nn.Sequential(nn.Conv1d(4, 6, 5), nn.ReLU(), nn.MaxPool1d(2),  # 30 -> 26 -> 13
                          nn.Conv1d(6, 3, 3, padding=1), nn.Flatten(), nn.Linear(39, 2))
    assert count_macs(model, torch.zeros(2, 4, 30)).total == \
        2 * (6 * 26 * 4 * 5 + 3 * 13 * 6 * 3 + 39 * 2)


def sei_trunk_macs_per_bp(c1, c2, c3):
    """The Sei trunk by hand: stage 1 at full length, stage 2 at L/4, stage 3 at L/16 (kernel 9,
    two convolutions in and two residual ones per stage; five dilated convolutions, kernel 5)."""
    stage1 = 4 * c1 * 9 + 3 * c1 * c1 * 9
    stage2 = c1 * c2 * 9 + 3 * c2 * c2 * 9
    stage3 = c2 * c3 * 9 + 3 * c3 * c3 * 9 + 5 * c3 * c3 * 5
    return stage1 + stage2 / 4 + stage3 / 16


def test_sei_and_fsei_by_hand():
    c1, c2, c3, length, embed = 8, 12, 16, 320, 10
    model = FSei((c1, c2, c3), embed_dim=embed, kernel_size=3).eval()
    count = count_macs(model, torch.zeros(2, 4, length))
    assert count.within("trunk") == 2 * length * sei_trunk_macs_per_bp(c1, c2, c3)
    positions = length // 16
    head = (c3 * positions * SPLINE_DF  # B-splines
            + (SPLINE_DF - 2) * embed * c3 * 3  # Conv1d(c3 -> embed, k=3) over 16 coefficients
            + (SPLINE_DF - 2) * embed * embed  # attention pooling
            + embed * embed + embed * 2)  # Linear(embed, embed), Linear(embed, 2)
    assert count.total - count.within("trunk") == 2 * head
    # the official widths: about 13 M multiply-adds per bp in the trunk (README), and the full Sei
    # about 106 GFLOP per 4,000 bp sequence, counted on the meta device (nothing computed)
    with torch.device("meta"):
        sei = Sei()
    full = count_macs(sei, torch.zeros(1, 4, 4000, device="meta"))
    trunk_per_bp = sei_trunk_macs_per_bp(480, 640, 960)
    assert trunk_per_bp == 13_034_880  # at lengths divisible by 16
    classifier = 960 * SPLINE_DF * 21_907 + 21_907 * 21_907
    assert full.total == 4000 * trunk_per_bp + 960 * 250 * SPLINE_DF + classifier
    assert full.flops / 1e9 == pytest.approx(105.92, abs=0.01)


@pytest.mark.parametrize("name", ["Basset", "ConvNet", "FSei"])
def test_counts_equal_pytorchs_flop_counter(name):
    """An independent reference: torch.utils.flop_counter counts the matrix products of the
    dispatched operations (convolutions, mm, bmm) as 2 x multiply-adds."""
    architecture = {
        "Basset": {"CNN1filters": 8, "CNN1filterSize": 9, "CNN1poolSize": 4, "CNN1padding": 4,
                   "CNN2filters": 8, "CNN2filterSize": 5, "CNN2poolSize": 1, "CNN2padding": 2,
                   "CNN3filters": 4, "CNN3filterSize": 4, "CNN3poolSize": 2, "CNN3padding": 2,
                   "FC1inputSize": 300, "FC1outputSize": 16, "FC2outputSize": 8,
                   "sequence_length": 600},
        "ConvNet": {"channels": [8, 8, 8, 8], "dilations": [2, 4], "residual_width": 8,
                    "embed_dim": 8, "feedforward_dim": 16, "dropout": 0.0},
        "FSei": {"trunk_channels": [8, 8, 8], "embed_dim": 8},
    }[name]
    model = build_model(name, architecture).eval()
    x = torch.zeros(2, 4, 600)
    with FlopCounterMode(display=False) as reference, torch.no_grad():
        model(x)
    assert count_macs(model, x).flops == reference.get_total_flops()


def test_step_flops():
    assert step_flops(10, "inference") == 10
    assert step_flops(10, "training") == 30
    assert step_flops(10, "frozen", trained_forward=2) == 14
    assert step_flops(10, "integrated_gradients") == 20
    with pytest.raises(ValueError):
        step_flops(10, "frozen")
    with pytest.raises(ValueError):
        step_flops(10, "backward")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_bench_gpu_without_cuda(tmp_path):
    config = {"vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 4, "intermediate_size": 64, "model_type": "bert"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    results = tmp_path / "RESULTS.md"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--out", str(results),
                           "--dnabert2-config", str(tmp_path / "config.json"),
                           "--dnabert2-length", "20"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "no CUDA device: nothing measured" in out
    assert "| Sei (21,907 outputs), 4,000 bp | 105.92 |" in out
    assert "| FSei (480-640-960 trunk, head 520), 600 bp | 15.64 | training (3 x forward) | " \
           "46.92 |" in out
    assert "DNABERT-2 (2 layers, hidden 32), 20 tokens" in out
    assert not results.exists()  # nothing measured, nothing written


def test_bench_gpu_arithmetic_and_results_section(tmp_path):
    gpu = runpy.run_path(str(ROOT / "bench" / "gpu.py"))  # its functions; main() does not run
    assert gpu["bf16_peak_tflops"]("NVIDIA H200") == 989.0
    assert gpu["bf16_peak_tflops"]("NVIDIA H100 PCIe") == 756.0
    assert gpu["bf16_peak_tflops"]("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu["bf16_peak_tflops"]("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu["bf16_peak_tflops"]("Tesla V100-SXM2-16GB") is None
    row = gpu["Row"]("FSei training", "bf16", 512, items_per_s=2000.0, peak_gib=10.0,
                     gflop_per_item=46.92)
    assert row.tflops() == pytest.approx(93.84)  # 46.92 GFLOP x 2,000 / s
    assert row.fraction(989.0) == pytest.approx(93.84 / 989.0)
    assert row.fraction(None) is None
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Other\n\ntext\n")
    gpu["write_section"](results, "first table")
    gpu["write_section"](results, "second table")
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\n## Other\n\ntext\n")
    assert text.count(gpu["SECTION_TITLE"]) == 1 and "first table" not in text
    assert f"{gpu['BEGIN']}\nsecond table\n{gpu['END']}" in text
    # the full Sei is initialised on the device from the meta device; a model with a weight that
    # no reset_parameters covers (FSei's attention pooling) is refused, not left uninitialised
    with torch.device("meta"):
        small_sei, small_fsei = Sei((8, 8, 8), 30), FSei((8, 8, 8), embed_dim=8)
    initialised = gpu["random_init"](small_sei, torch.device("cpu"))
    assert all(torch.isfinite(p).all() for p in initialised.parameters())
    with pytest.raises(ValueError, match="attention_pool"):
        gpu["random_init"](small_fsei, torch.device("cpu"))
    # the project's results file has the markers, so a run replaces that block only
    project = (ROOT / "bench" / "RESULTS.md").read_text()
    assert project.count(gpu["BEGIN"]) == 1 and project.count(gpu["END"]) == 1
