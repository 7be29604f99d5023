"""Sei: official layout, B-spline basis, reference outputs, loading by name, target names."""

from __future__ import annotations

import gc
import math
import random

import numpy as np
import pytest
import torch
from conftest import DATA, REFERENCE
from scipy.interpolate import splev

from src.data.encoding import one_hot_encode, reverse_complement
from src.errors import InputError
from src.models.sei import (
    OFFICIAL_PREFIX,
    BSplineTransformation,
    FSei,
    Sei,
    SeiTrunk,
    bspline_basis,
    load_sei,
    load_trunk_weights,
    read_official_state_dict,
    sei_from_state_dict,
    strip_official_prefix,
    to_official_state_dict,
    write_official_checkpoint,
)
from src.models.sei_targets import (
    classify_target,
    parse_target_names,
    read_target_names,
)

# copies of ../shared/reference/sei_state_dict_layout.tsv and sei_reference.npz (the official
# checkpoint's layout and the official architecture's outputs), so that a fresh clone checks Sei
LAYOUT = DATA / "sei_state_dict_layout.tsv"
REFERENCE_NPZ = DATA / "sei_reference.npz"
NAMES = REFERENCE / "sei_target.names"
needs_names = pytest.mark.skipif(not NAMES.is_file(),
                                 reason="reference sei_target.names (../shared/reference) not present")
SMALL = (4, 6, 8)


def read_layout() -> list[tuple[str, tuple[int, ...]]]:
    rows = LAYOUT.read_text().splitlines()[1:]
    return [(key, tuple(int(s) for s in shape.split("x")))
            for key, shape in (row.split("\t") for row in rows if row.strip())]


def small_sei(seed=0, n_targets=12, channels=SMALL, **kwargs) -> Sei:
    torch.manual_seed(seed)
    return Sei(channels, n_targets, **kwargs).eval()


def official_basis(n: int, df: int = 16) -> np.ndarray:
    """The official `spline_factory(n, df)`: one `splev` call per basis function."""
    x = np.arange(n)
    inner = np.percentile(x, 100 * np.linspace(0, 1, df - 4 + 2)[1:-1])
    knots = np.sort(np.concatenate(([x.min(), x.max()] * 4, inner)))
    basis = np.empty((n, df))
    for i in range(df):
        coefs = np.zeros(df)
        coefs[i] = 1
        basis[:, i] = splev(x, (knots, coefs, 3))
    return basis


# ------------------------------------------------------------------------------- layout, spline

def test_module_names_order_and_shapes_match_the_official_checkpoint():
    with torch.device("meta"):
        model = Sei()
        trunk = SeiTrunk()
    ours = [(OFFICIAL_PREFIX + k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == read_layout()
    assert len(trunk.state_dict()) == 34
    assert [OFFICIAL_PREFIX + k for k in trunk.state_dict()] == [k for k, _ in read_layout()[:34]]


@pytest.mark.parametrize("n", [2, 3, 16, 37, 250, 256])
def test_bspline_basis_equals_the_official_splev_construction(n):
    basis = bspline_basis(n)
    np.testing.assert_allclose(basis, official_basis(n), rtol=0, atol=1e-12)
    np.testing.assert_allclose(basis.sum(axis=1), 1.0, atol=1e-12)


def test_bspline_layer_is_recomputed_for_each_length():
    layer = BSplineTransformation()
    for length in (37, 250, 37, 9):
        x = torch.randn(2, 3, length, dtype=torch.float64)
        # the official layer, too, rounds the basis to float32 before the product
        expected = x.numpy() @ official_basis(length).astype(np.float32).astype(np.float64)
        np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_too_short_input_is_a_clear_error():
    with pytest.raises(InputError, match="at least 32 bp"):
        small_sei()(torch.zeros(1, 4, 20))
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        small_sei()(torch.zeros(1, 600))


# ---------------------------------------------------------------------------- reference outputs

@pytest.fixture(scope="module")
def reference_model():
    """The full Sei with the weights of the reference recipe, loaded by name through the
    official key format (3.3 GB of weights while this module's tests run)."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in read_layout():
        if len(shape) > 1:
            tensor = torch.randn(shape, generator=g)
            tensor /= math.sqrt(math.prod(shape[1:]))
        else:
            tensor = torch.randn(shape, generator=g) * 0.01
        state[key] = tensor
    keys = list(state)
    random.Random(0).shuffle(keys)  # loading is by name, not by position
    model = sei_from_state_dict(strip_official_prefix({k: state[k] for k in keys}), "reference")
    del state
    yield model
    del model
    gc.collect()


@pytest.mark.slow
def test_sei_equals_the_reference_outputs_at_two_lengths(reference_model):
    reference = np.load(REFERENCE_NPZ)
    # 600 first, then 4096: a basis cached for the first length would break the second
    for length in (600, 4096):
        x = torch.from_numpy(reference[f"input_{length}"])
        g = torch.Generator().manual_seed(1)
        independent = one_hot_encode(["".join("ACGT"[i] for i in
                                              torch.randint(0, 4, (length,), generator=g))])
        np.testing.assert_array_equal(x.numpy(), independent)
        with torch.inference_mode():
            spline = reference_model.spline_features(x).numpy()
            out = reference_model(x).numpy()
        expected = reference[f"trunk_spline_output_{length}"]
        # float32 sums in another order: agreement to about 1e-5 (reference README)
        np.testing.assert_allclose(spline, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
        np.testing.assert_allclose(out, reference[f"sei_output_{length}"], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ official format, by name

def test_official_format_checkpoint_loads_by_name(tmp_path):
    model = small_sei(seed=3)
    official = to_official_state_dict(model)
    assert all(k.startswith("module.model.") for k in official)
    keys = list(official)
    random.Random(1).shuffle(keys)
    torch.save({k: official[k] for k in keys}, tmp_path / "sei.pth")
    loaded = load_sei(tmp_path / "sei.pth")
    assert loaded.channels == SMALL and loaded.n_targets == 12 and not loaded.training
    x = torch.from_numpy(one_hot_encode(["ACGTN" * 40, "TTGCA" * 40]))
    with torch.inference_mode():
        np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    # a dict with a state_dict entry, and keys without the prefix, load too
    torch.save({"state_dict": model.state_dict()}, tmp_path / "plain.pth")
    with torch.inference_mode():
        np.testing.assert_array_equal(load_sei(tmp_path / "plain.pth")(x).numpy(),
                                      model(x).numpy())


def test_a_checkpoint_that_does_not_fit_lists_every_problem(tmp_path):
    official = to_official_state_dict(small_sei())
    del official["module.model.conv2.3.bias"]
    official["module.model.extra.weight"] = torch.zeros(3)
    official["module.model.dconv3.1.weight"] = torch.zeros(8, 8, 3)
    torch.save(official, tmp_path / "bad.pth")
    with pytest.raises(InputError) as err:
        load_sei(tmp_path / "bad.pth")
    message = str(err.value)
    assert "missing (1): conv2.3.bias" in message
    assert "unexpected (1): extra.weight" in message
    assert "dconv3.1.weight 8x8x3 (expected 8x8x5)" in message


def test_missing_or_damaged_sei_pth_says_where_to_get_it(tmp_path):
    with pytest.raises(InputError, match="Zenodo record 4906996"):
        read_official_state_dict(tmp_path / "sei.pth")
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot be read"):
        read_official_state_dict(tmp_path / "broken.pth")


def test_strand_average_is_the_mean_over_both_strands():
    model = small_sei(seed=5)
    averaged = small_sei(seed=5, strand_average=True)
    sequences = ["ACGTTGCAAGGCTTANNACG" * 5, "GGGCCCATATATRYKMACGT" * 5]  # equal lengths: no padding
    x = torch.from_numpy(one_hot_encode(sequences))
    rc = torch.from_numpy(one_hot_encode([reverse_complement(s) for s in sequences]))
    with torch.inference_mode():
        expected = (model(x) + model(rc)) / 2
        np.testing.assert_allclose(averaged(x).numpy(), expected.numpy(), rtol=1e-6, atol=1e-7)
        assert not torch.allclose(model(x), model(rc))


def test_trunk_loads_from_an_official_checkpoint_and_ignores_the_classifier(tmp_path):
    source = small_sei(seed=7, n_targets=30)
    write_official_checkpoint(source, tmp_path / "sei.pth")
    torch.manual_seed(11)
    fsei = FSei(SMALL, embed_dim=8)
    head_before = {k: v.clone() for k, v in fsei.head.state_dict().items()}
    load_trunk_weights(fsei.trunk, tmp_path / "sei.pth")
    for key, value in fsei.trunk.state_dict().items():
        assert torch.equal(value, source.state_dict()[key]), key
    for key, value in fsei.head.state_dict().items():
        assert torch.equal(value, head_before[key])
    with pytest.raises(InputError, match="trunk_channels"):
        load_trunk_weights(FSei((4, 6, 10), embed_dim=8).trunk, tmp_path / "sei.pth")


# ------------------------------------------------------------------------------- target names

def test_target_grouping_rules_on_a_small_names_file(tmp_path):
    lines = ["HeLa | BTAF1 | ID:1", "K562 | H3K27ac | ENCODE | 1", "A549 | CENPA | ID:3",
             "HepG2 | CENPC | ID:4", "GM12878 | DNase | ID:5", "Liver | ATAC-seq | ID:6",
             "Brain | H2A.Z | ID:7", "ES | H4K20me1 | ID:8", "ES | DNase.hot | ID:9",
             "K562 | CTCF | ID:10", "K562 | H2BK12ac | ID:11"]
    path = tmp_path / "target.names"
    path.write_text("\n".join(lines) + "\n\n")
    targets = read_target_names(path, n_outputs=11)
    assert targets.groups == ("TF", "HM", "HM", "TF", "ACC", "ACC", "HM", "HM", "TF", "TF", "HM")
    assert targets.counts() == {"TF": 4, "HM": 5, "ACC": 2}
    assert targets.indices("TF").tolist() == [0, 3, 8, 9]
    assert targets.feature_names("HM")[0] == "K562 | H3K27ac | ENCODE | 1"
    assert len(targets.indices("ALL")) == 11
    assert classify_target("  H3K4me3 ") == "HM"
    assert classify_target("h3k27ac") == "HM" and classify_target("atac") == "ACC"
    assert classify_target("dnase") == "TF"  # only "DNase" exactly, as the study


def test_bad_target_names_files_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="line 2 is empty"):
        parse_target_names(["A | CTCF | 1", "", "B | H3K4me3 | 2"], source="t.names")
    with pytest.raises(InputError, match="line 1 .*no assay field"):
        parse_target_names(["just a name"], source="t.names")
    path = tmp_path / "target.names"
    path.write_text("A | CTCF | 1\nB | H3K4me3 | 2\n")
    with pytest.raises(InputError, match="names 2 outputs but the Sei model has 3"):
        read_target_names(path, n_outputs=3)
    with pytest.raises(InputError, match="sei-framework"):
        read_target_names(tmp_path / "absent.names")


@needs_names
def test_real_target_names_give_the_published_group_sizes():
    targets = read_target_names(NAMES, n_outputs=21907)
    assert targets.counts() == {"TF": 9471, "HM": 10064, "ACC": 2372}
    assert targets.names[0] == "HeLa_Epithelium_Cervix | BTAF1 | ID:1"


@pytest.mark.skipif(not (REFERENCE / "sei_reference.npz").is_file(),
                    reason="../shared/reference not present")
def test_the_copies_in_tests_data_are_the_reference_files():
    for name in ("sei_reference.npz", "sei_state_dict_layout.tsv"):
        assert (DATA / name).read_bytes() == (REFERENCE / name).read_bytes(), name
