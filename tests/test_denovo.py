"""De novo motif discovery (src.interpret.denovo, src.interpret.maps): hypothetical
contributions from Integrated Gradients against exact answers, TF-MoDISco + TOMTOM on planted
motifs, and Attribute.py -i / -s end to end.

The TF-MoDISco and TOMTOM tests (marked slow) call numba kernels: the first run on a machine
compiles them into numba's disk cache (about 1.5 min on 2 cores); later runs take seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from src.errors import InputError
from src.interpret import denovo, maps
from src.interpret.gradients import integrated_gradients
from src.models.registry import register_model
from tests.conftest import ROOT

BASE_CODES = np.array([1, 2, 3, 4], dtype=np.uint8)  # src.data.encoding codes of A, C, G, T
IR_MOTIF, NON_IR_MOTIF = "MA0088.2", "MA0139.2"  # ZNF143, CTCF (JASPAR 2024)


# ----------------------------------------------------------------------------------------------
# hypothetical contributions


class TwoLogitLinear(nn.Module):
    """logits = (sum W0 * x, sum W1 * x): linear in the input, so IG's path-averaged gradient is
    W itself and the hypothetical contribution of base k at i is exactly W[k, i] - mean W[:, i]."""

    def __init__(self, length: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(2, 4, length, generator=generator))

    def forward(self, x):
        return torch.einsum("ncl,kcl->nk", x, self.weight)


class SmallConvNet(nn.Module):
    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(4, 6, 5, padding=2)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.head(torch.tanh(h).mean(dim=2) + h.amax(dim=2))


def one_hot_batch(n: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random one-hot (n, 4, length) with 3 padding columns at each end, an N column (0.25 each)
    and an R column (0.5 A + 0.5 G), like `src.data.encoding` encodes them."""
    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(n, length))].transpose(0, 2, 1)
    x = np.ascontiguousarray(x)
    x[:, :, :3] = 0
    x[:, :, -3:] = 0
    x[:, :, 5] = 0.25
    x[:, :, 7] = [0.5, 0, 0.5, 0]
    return torch.from_numpy(x)


def test_linear_model_hypothetical_contributions_are_exact():
    """For a linear model, hyp[k, i] from the saved IG of one sequence equals the IG that the
    same position gets in a sequence that really has base k there (a second IG run)."""
    length = 30
    model = TwoLogitLinear(length).eval()
    x = one_hot_batch(3, length)
    targets = torch.tensor([1, 0, 1])
    attributions, _, _ = integrated_gradients(model, x, targets, steps=8)
    hyp = denovo.hypothetical_from_attributions(attributions.numpy(), x.numpy())

    w = model.weight.detach().numpy()[targets.numpy()]  # (3, 4, L)
    expected = w - w.mean(axis=1, keepdims=True)
    real = np.ones(length, dtype=bool)
    real[[0, 1, 2, length - 3, length - 2, length - 1, 5]] = False  # padding and N
    np.testing.assert_allclose(hyp[:, :, real], expected[:, :, real], rtol=1e-5, atol=1e-5)
    assert not hyp[:, :, ~real].any()

    for k in range(4):  # every real position holding base k: its IG is hyp[k]
        mutated = x.clone()
        mutated[:, :, 3:-3] = 0
        mutated[:, k, 3:-3] = 1
        attribution_k, _, _ = integrated_gradients(model, mutated, targets, steps=8)
        observed = attribution_k.numpy().sum(axis=1)
        np.testing.assert_allclose(observed[:, 3:-3], expected[:, k, 3:-3], rtol=1e-5,
                                   atol=1e-5)
        np.testing.assert_allclose(hyp[:, k, 8:-3], observed[:, 8:-3], rtol=1e-5, atol=1e-5)


def path_averaged_gradients(model, x, targets, steps):
    """Independent reference: Gauss-Legendre average of the gradient along baseline -> x."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    baseline = 0.25 * x.sum(dim=1, keepdim=True).expand_as(x)
    total = torch.zeros_like(x)
    for node, weight in zip(nodes, weights):
        alpha = 0.5 * (node + 1)
        point = (baseline + alpha * (x - baseline)).requires_grad_(True)
        logits = model(point)
        logits.gather(1, targets[:, None]).sum().backward()
        total += 0.5 * weight * point.grad
    return total.numpy()


def test_nonlinear_model_gradients_and_consistency():
    """A convolutional model: the gradients recovered from captum's IG match a hand-written
    path average, and sum_k x[k] hyp[k] equals IG summed over bases at every position
    (definite bases, an IUPAC R, N and padding)."""
    length, steps = 40, 16
    model = SmallConvNet().eval()
    x = one_hot_batch(4, length, seed=3)
    targets = torch.tensor([0, 1, 1, 0])
    attributions, _, _ = integrated_gradients(model, x, targets, steps=steps)
    gradients, known = denovo.path_gradients_from_attributions(attributions.numpy(), x.numpy())
    reference = path_averaged_gradients(model, x, targets, steps)
    assert known[:, 3:-3].sum() == 4 * (length - 7)  # every real column but N
    assert not known[:, 5].any() and not known[:, :3].any()
    scale = np.abs(reference).max()
    np.testing.assert_allclose(gradients[:, :, known[0]], reference[:, :, known[0]],
                               atol=1e-4 * scale)

    hyp = denovo.hypothetical_from_attributions(attributions.numpy(), x.numpy())
    actual = (hyp * x.numpy()).sum(axis=1)
    np.testing.assert_allclose(actual, attributions.numpy().sum(axis=1), atol=1e-6 * scale)
    # the same from the reference gradients, through the public function
    hyp_ref = denovo.hypothetical_contributions(reference, x.numpy())
    np.testing.assert_allclose(hyp[:, :, known[0]], hyp_ref[:, :, known[0]], atol=1e-4 * scale)


def test_hypothetical_contributions_with_another_baseline():
    """hyp[k] = g[k] - sum_c b[c] g[c]: with a zero baseline it is the gradient itself."""
    rng = np.random.default_rng(0)
    g = rng.normal(size=(2, 4, 6)).astype(np.float32)
    x = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (2, 6))].transpose(0, 2, 1)
    np.testing.assert_allclose(denovo.hypothetical_contributions(g, x, np.zeros_like(x)), g)
    background = np.array([0.3, 0.2, 0.2, 0.3], dtype=np.float32)[None, :, None]
    hyp = denovo.hypothetical_contributions(g, x, background)
    np.testing.assert_allclose(hyp, g - (background * g).sum(axis=1, keepdims=True), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 4, L\)"):
        denovo.hypothetical_contributions(g[:, :3], x[:, :3])


# ----------------------------------------------------------------------------------------------
# small pieces


def test_benjamini_hochberg_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).uniform(size=300) ** 3
    p[[3, 9]] = p[5]  # ties
    np.testing.assert_allclose(denovo.benjamini_hochberg(p),
                               multipletests(p, method="fdr_bh")[1], rtol=1e-12)


def test_trim_span_and_consensus():
    cwm = np.zeros((4, 8))
    cwm[0, 2], cwm[3, 4], cwm[1, 6], cwm[2, 7] = 1.0, -0.5, 0.31, 0.2
    assert denovo.trim_span(cwm, 0.3) == (2, 7)
    assert denovo.trim_span(np.zeros((4, 3))) == (0, 3)
    ppm = np.array([[0.9, 0.1, 0.4], [0.05, 0.1, 0.3], [0.0, 0.7, 0.2], [0.05, 0.1, 0.1]])
    assert denovo.consensus(ppm) == "AGa"


def reverse_complement(sequence: str) -> str:
    return sequence[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def test_seqlets_table_traces_back_to_the_intron():
    """Seqlets on both strands of a row and of its reverse-complement row: the site (the
    pattern's core, columns 2..9 of 12) read from the row at start, end on strand, and from the
    forward intron at forward_start, forward_end on forward_strand, gives the site's sequence;
    padding offsets are removed."""
    rng = np.random.default_rng(2)
    intron = "".join(rng.choice(list("ACGT"), 50))
    rows_text = [intron, reverse_complement(intron)]
    pad = 7
    sequences = pd.DataFrame({"header": ["i1", "i1"], "reverse_complement": [False, True],
                              "seq_start": [pad, pad], "seq_end": [pad + 50, pad + 50]})
    records = []
    for row, start, is_rc in ((0, 10, False), (0, 30, True), (1, 4, False), (1, 20, True)):
        text = rows_text[row][start:start + 12]
        records.append({"row": row, "start": pad + start, "end": pad + start + 12,
                        "is_revcomp": is_rc, "contribution": 1.0,
                        "sequence": reverse_complement(text) if is_rc else text})
    pattern = denovo.Pattern("IR.pos.0", "IR", "pos", np.full((4, 12), 0.25),
                             np.zeros((4, 12)), np.zeros((4, 12)), pd.DataFrame(records),
                             trim=(2, 9))
    table = denovo.seqlets_table([pattern], sequences)
    assert list(table.columns) == list(denovo.SEQLET_COLUMNS)
    for r, record in zip(table.itertuples(), records):
        assert r.sequence == record["sequence"][2:9] and r.end - r.start == 7
        assert (r.seqlet_start, r.seqlet_end) == (record["start"] - pad, record["end"] - pad)
        text = rows_text[int(r.reverse_complement)][r.start:r.end]
        assert (text if r.strand == "+" else reverse_complement(text)) == r.sequence
        forward = intron[r.forward_start:r.forward_end]
        assert (forward if r.forward_strand == "+" else reverse_complement(forward)) == r.sequence


def test_patterns_meme_is_read_back(tmp_path):
    from memelite.io import read_meme as memelite_read_meme

    from src.interpret.motifs import read_meme

    rng = np.random.default_rng(0)
    patterns = []
    for k, width in enumerate((9, 14)):
        ppm = rng.dirichlet(np.ones(4), size=width).T
        cwm = np.zeros((4, width))
        cwm[:, 1:-1] = ppm[:, 1:-1]
        patterns.append(denovo.Pattern(f"IR.pos.{k}", "IR", "pos", ppm, cwm, cwm,
                                       pd.DataFrame({"row": [0, 1]}), trim=(1, width - 1)))
    path = denovo.write_patterns_meme(patterns, tmp_path / "patterns.meme")
    ours = read_meme(path)
    theirs = memelite_read_meme(str(path))
    assert [m.matrix_id for m in ours] == ["IR.pos.0", "IR.pos.1"]
    for motif, matrix, pattern in zip(ours, theirs.values(), patterns):
        assert motif.name == pattern.consensus
        np.testing.assert_allclose(motif.probabilities, pattern.trimmed_ppm, atol=2e-6)
        np.testing.assert_allclose(matrix, pattern.trimmed_ppm, atol=2e-6)


def test_maps_round_trip_and_errors(tmp_path):
    table = pd.DataFrame({"header": ["a", "b", "c"], "label": [1, 0, 1],
                          "reverse_complement": [False, True, False], "seq_start": [0, 0, 1],
                          "seq_end": [5, 5, 4]})
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, size=(3, 5)).astype(np.uint8)
    attributions = rng.normal(size=(3, 4, 5)).astype(np.float32)
    assert not maps.is_complete(tmp_path)
    with pytest.raises(InputError, match="maps.json not found.*-i"):
        maps.load_attribution_maps(tmp_path)
    # written two rows at a time through the memory map
    maps.save_attribution_maps(tmp_path, maps.AttributionMaps(table, codes, attributions,
                                                              {"per_base": True}), chunk_size=2)
    assert maps.is_complete(tmp_path)
    first_id = maps.maps_id(tmp_path)
    loaded = maps.load_attribution_maps(tmp_path)
    assert isinstance(loaded.attributions, np.memmap)
    np.testing.assert_array_equal(loaded.attributions, attributions)
    np.testing.assert_array_equal(loaded.codes, codes)
    pd.testing.assert_frame_equal(loaded.table, table)
    assert loaded.info["id"] == first_id and loaded.info["sequences"] == 3
    assert not list(tmp_path.glob(".*tmp*"))
    # saving again (-i --force) gives new maps with a new id
    maps.save_attribution_maps(tmp_path, maps.AttributionMaps(table, codes, attributions))
    assert maps.maps_id(tmp_path) not in (None, first_id)

    np.save(tmp_path / maps.MAPS_ATTRIBUTIONS, np.zeros((4, 4, 5), np.float32))
    with pytest.raises(InputError, match="same N sequences"):
        maps.load_attribution_maps(tmp_path)
    (tmp_path / maps.MAPS_CODES).unlink()
    assert not maps.is_complete(tmp_path)
    with pytest.raises(InputError, match="maps_codes.npy not found.*-i --force"):
        maps.load_attribution_maps(tmp_path)


def test_token_model_maps_are_refused_with_the_reason(tmp_path):
    table = pd.DataFrame({"header": ["a"], "label": [1], "reverse_complement": [False],
                          "seq_start": [0], "seq_end": [5]})
    token = maps.AttributionMaps(table, np.ones((1, 5), np.uint8),
                                 np.zeros((1, 4, 5), np.float32),
                                 {"per_base": False, "attribution": "IG on token embeddings"})
    maps.save_attribution_maps(tmp_path, token)
    assert (tmp_path / maps.MAPS_INFO).is_file()
    assert not (tmp_path / maps.MAPS_ATTRIBUTIONS).exists()
    assert not maps.is_complete(tmp_path)
    with pytest.raises(InputError, match="token model.*per-base gradients"):
        maps.load_attribution_maps(tmp_path)
    with pytest.raises(InputError, match="token model"):
        denovo.check_denovo_inputs(tmp_path, integrate=False)
    inputs = type("Inputs", (), {"methods": type("M", (), {"description": "token IG"})()})()
    with pytest.raises(InputError, match="leave out -s for a token model"):
        denovo.check_denovo_inputs(tmp_path, integrate=True, inputs=inputs)
    denovo.check_denovo_inputs(tmp_path, integrate=True, inputs=object())  # a one-hot model


@pytest.mark.slow
def test_numba_cache_is_set_before_numba_loads(tmp_path):
    """`prepare_numba` (run before modisco-lite or memelite is imported) points numba's cache
    at a writable folder, also when the default one cannot be made (a file stands where the
    cache folder should be); a user's setting is kept. Importing the module changes nothing."""
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    code = ("import os, src.interpret.denovo as d; d.prepare_numba(); import numba; "
            "print(os.environ['NUMBA_CACHE_DIR'], numba.config.CACHE_DIR, sep='|')")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    cases = ((tmp_path / "xdg", {"XDG_CACHE_HOME": str(tmp_path / "xdg")}),
             (None, {"XDG_CACHE_HOME": str(blocked)}),
             (tmp_path / "mine", {"NUMBA_CACHE_DIR": str(tmp_path / "mine")}))
    for expected, extra in cases:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, **extra},
                             capture_output=True, text=True, check=True).stdout.strip()
        folder, numba_folder = out.split("|")
        assert folder == numba_folder
        if expected is not None:
            assert folder == str(expected if "NUMBA_CACHE_DIR" in extra
                                 else expected / "ir-sei" / "numba")
        else:
            assert not folder.startswith(str(blocked)) and os.access(folder, os.W_OK)


FORK_AFTER_NUMBA = """
import multiprocessing, numpy as np, src.interpret.denovo
src.interpret.denovo.prepare_numba()
import numba

@numba.njit(parallel=True)
def total(x):
    s = 0.0
    for i in numba.prange(x.shape[0]):
        s += x[i]
    return s

def child():
    import torch
    torch.set_num_threads(2)
    torch.ones(256, 256) @ torch.ones(256, 256)

if __name__ == "__main__":
    total(np.ones(1000))
    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(60)
    if process.is_alive():
        process.kill()
    print(numba.threading_layer(), process.exitcode)
"""


@pytest.mark.slow
def test_a_process_forked_after_a_parallel_numba_kernel_does_not_hang(tmp_path):
    """numba's default layer without TBB, GNU OpenMP, makes a child forked after a parallel
    kernel hang in its first OpenMP call (torch); `prepare_numba` chooses the workqueue layer."""
    script = tmp_path / "fork_after_numba.py"
    script.write_text(FORK_AFTER_NUMBA)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, check=True, timeout=300).stdout.split()
    assert out == ["workqueue", "0"]


# ----------------------------------------------------------------------------------------------
# TF-MoDISco + TOMTOM on planted motifs


@pytest.fixture(scope="module")
def jaspar():
    from src.interpret.motifs import load_jaspar

    return load_jaspar("JASPAR2024")


def planted_maps(motif_by_label: dict, n_per_class: int = 120, length: int = 120,
                 pad: int = 10, noise: float = 0.05, seed: int = 0):
    """Random sequences (padded by `pad` columns each side), IR rows first. A row of a label
    in `motif_by_label` carries one instance of its motif (sampled from the matrix, random
    strand, 40 bp or more from the ends); its path-averaged gradients are the motif's log2
    odds at the site and N(0, noise) elsewhere, and IG = (x - 0.25) * gradients, as captum
    would give for a model whose gradient that is.

    Returns the maps and the planted sites (row, start, end in the row's sequence)."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_class
    labels = np.repeat([1, 0], n_per_class)
    bases = rng.integers(0, 4, size=(n, length))
    gradients = rng.normal(0, noise, size=(n, 4, length)).astype(np.float32)
    sites = []
    for row, label in enumerate(labels):
        motif = motif_by_label.get(int(label))
        if motif is None:
            continue
        width = motif.width
        start = int(rng.integers(40, length - width - 40 + 1))
        instance = np.array([rng.choice(4, p=column) for column in motif.probabilities.T])
        log_odds = np.log2((motif.probabilities + 0.01) / 0.25)
        if rng.random() < 0.5:
            instance, log_odds = 3 - instance[::-1], log_odds[::-1, ::-1]
        bases[row, start:start + width] = instance
        gradients[row, :, start:start + width] += log_odds
        sites.append((row, start, start + width))
    codes = np.zeros((n, length + 2 * pad), dtype=np.uint8)
    codes[:, pad:pad + length] = BASE_CODES[bases]
    one_hot = np.eye(4, dtype=np.float32)[bases].transpose(0, 2, 1)
    attributions = np.zeros((n, 4, length + 2 * pad), dtype=np.float32)
    attributions[:, :, pad:pad + length] = (one_hot - 0.25) * gradients
    table = pd.DataFrame({"header": [f"seq{i}" for i in range(n)], "label": labels,
                          "reverse_complement": np.arange(n) % 2 == 1, "seq_start": pad,
                          "seq_end": pad + length})
    return maps.AttributionMaps(table, codes, attributions), pd.DataFrame(
        sites, columns=["row", "start", "end"])


@pytest.fixture(scope="module")
def planted_run(jaspar, tmp_path_factory):
    by_id = {m.matrix_id: m for m in jaspar}
    planted, sites = planted_maps({1: by_id[IR_MOTIF], 0: by_id[NON_IR_MOTIF]})
    folder = tmp_path_factory.mktemp("denovo")
    maps.save_attribution_maps(folder, planted)
    result = denovo.run_denovo(maps.load_attribution_maps(folder), jaspar, folder,
                               database="jaspar2024", log=lambda *_: None)
    return result, sites, folder


@pytest.mark.slow
def test_planted_motifs_come_back_with_their_jaspar_ids(planted_run):
    result, sites, folder = planted_run
    table = pd.read_csv(folder / "patterns.csv")
    positive = table[table["sign"] == "pos"]
    best = {r["class"]: r for _, r in positive[positive["called"]].groupby("class").head(1)
            .iterrows()}
    assert best["IR"]["pattern"] == "IR.pos.0" and best["IR"]["best_match_id"] == IR_MOTIF
    assert best["non-IR"]["pattern"] == "non-IR.pos.0"
    assert best["non-IR"]["best_match_id"] == NON_IR_MOTIF
    assert best["IR"]["best_q"] <= 0.05 and best["non-IR"]["best_q"] <= 0.05
    # the planted motif of one class is not found in the other
    assert not (table["class"].eq("IR") & table["best_match_id"].eq(NON_IR_MOTIF)).any()
    assert not (table["class"].eq("non-IR") & table["best_match_id"].eq(IR_MOTIF)).any()
    # most planted sites are seqlets of the pattern
    assert best["IR"]["seqlets"] >= 100 and best["non-IR"]["seqlets"] >= 100
    # redundant database motifs grouped under the pattern: ZNF76 is ZNF143's paralogue motif
    assert "MA1716.2" in best["IR"]["matches"]
    matches = pd.read_csv(folder / "matches.csv")
    assert (matches["q_value"] <= 0.05).eq(matches["called"]).all()


@pytest.mark.slow
def test_seqlets_sit_on_the_planted_sites(planted_run):
    result, sites, folder = planted_run
    seqlets = pd.read_csv(folder / "seqlets.csv", keep_default_na=False)
    site_of = {f"seq{r.row}": (r.start, r.end) for r in sites.itertuples()}
    for name in ("IR.pos.0", "non-IR.pos.0"):
        mine = seqlets[seqlets["pattern"] == name]
        # the pattern's core lies on the planted site
        inside = [min(e, site_of[h][1]) - max(s, site_of[h][0]) >= 0.8 * (e - s)
                  for h, s, e in zip(mine["header"], mine["start"], mine["end"])]
        assert np.mean(inside) == 1.0, name
        assert (mine["reverse_complement"] == mine["header"].str[3:].astype(int).mod(2).eq(1)
                ).all()
    codes = np.load(folder / maps.MAPS_CODES)
    letters = np.array(list("NACGT"))
    for r in seqlets.head(20).itertuples():  # the sequence column reads the input
        row = int(r.header[3:])
        text = "".join(letters[codes[row, 10 + r.start:10 + r.end]])
        assert (text if r.strand == "+" else reverse_complement(text)) == r.sequence


@pytest.mark.slow
def test_report_files(planted_run, jaspar):
    from src.interpret.motifs import read_meme

    result, _, folder = planted_run
    for name in ("patterns.meme", "patterns.csv", "matches.csv", "seqlets.csv", "patterns.png",
                 "denovo.md", "denovo.json"):
        assert (folder / name).stat().st_size > 0, name
    motifs = read_meme(folder / "patterns.meme")
    assert [m.matrix_id for m in motifs] == [p.name for p in result.patterns]
    summary = (folder / "denovo.md").read_text()
    assert "**ZNF143** (MA0088.2" in summary and "**CTCF** (MA0139.2" in summary


@pytest.mark.slow
def test_tomtom_alignment_places_the_match_under_the_pattern(jaspar):
    """A pattern whose core is the reverse complement of a JASPAR motif, cut short and with
    flat flanks: TOMTOM's offset and strand put the motif's columns back under the core."""
    by_id = {m.matrix_id: m for m in jaspar}
    motif = by_id[NON_IR_MOTIF].probabilities
    core = np.hstack([np.full((4, 2), 0.25), motif[::-1, ::-1][:, 3:]])
    cwm = np.hstack([np.zeros((4, 1)), core, np.zeros((4, 1))])
    pattern = denovo.Pattern("t", "IR", "pos", np.hstack([np.full((4, 1), 0.25), core,
                                                          np.full((4, 1), 0.25)]), cwm, cwm,
                             pd.DataFrame({"row": []}), trim=(1, 1 + core.shape[1]))
    matches = denovo.match_patterns([pattern], jaspar)
    best = matches.iloc[0]
    assert best["matrix_id"] in (NON_IR_MOTIF, "MA1930.2", "MA1929.2") and best["called"]
    hit = matches[matches["matrix_id"] == NON_IR_MOTIF].iloc[0]
    matrix, first = denovo.aligned_match(pattern, by_id[NON_IR_MOTIF].probabilities,
                                         hit["offset"], hit["strand"])
    assert hit["strand"] == "-" and first == -1
    np.testing.assert_allclose(matrix[:, 3:], core[:, 2:])


@pytest.mark.slow
def test_no_planted_motif_gives_no_called_pattern(jaspar, tmp_path):
    no_motif, _ = planted_maps({}, seed=5)
    result = denovo.run_denovo(no_motif, jaspar, tmp_path, database="jaspar2024",
                               log=lambda *_: None)
    assert not result.table["called"].any()
    assert not result.matches["called"].any()


@pytest.mark.slow
def test_a_motif_the_database_lacks_is_found_but_not_called(jaspar, tmp_path):
    """A planted 12 bp motif that is in no JASPAR matrix (TGGCCAAAATGT, 0.85 per base) comes
    back as a pattern, and TOMTOM calls no database motif for it."""
    from src.interpret.motifs import Motif

    matrix = np.full((4, 12), 0.05)
    matrix[["ACGT".index(b) for b in "TGGCCAAAATGT"], np.arange(12)] = 0.85
    novel, _ = planted_maps({1: Motif("novel", "novel", matrix)}, seed=0)
    result = denovo.run_denovo(novel, jaspar, tmp_path, log=lambda *_: None)
    table = result.table
    assert table.iloc[0]["pattern"] == "IR.pos.0" and table.iloc[0]["seqlets"] >= 100
    consensus = table.iloc[0]["consensus"].upper()
    assert "TGGCCAAAATGT" in (consensus, reverse_complement(consensus))
    assert not table["called"].any()
    assert "none (closest" in (tmp_path / "denovo.md").read_text()


# ----------------------------------------------------------------------------------------------
# Attribute.py -i saves the maps, -s runs on them


@register_model("TestMotifDetector")
class MotifDetector(nn.Module):
    """logit c = the best log-odds score, over positions and both strands, of one motif per class
    (conv weights set by `motif_detector`). The convolution of the uniform baseline is the same
    at every position away from the padding, so along IG's path the best position does not move:
    the attributions sit exactly on the best site of each sequence."""

    def __init__(self, width: int = 21):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, width, padding=width // 2)

    def forward(self, x):
        scores = self.conv(x).amax(dim=2)  # (N, 4): class 0 both strands, class 1 both strands
        return torch.stack([scores[:, :2].amax(dim=1), scores[:, 2:].amax(dim=1)], dim=1)


def motif_detector(non_ir, ir, width: int = 21) -> MotifDetector:
    from src.models import build_model

    model = build_model("TestMotifDetector", {"width": width})
    weight = torch.zeros(4, 4, width)
    for k, motif in enumerate((non_ir, ir)):
        log_odds = np.log2((motif.probabilities + 0.01) / 0.26)
        left = (width - motif.width) // 2
        for strand, matrix in enumerate((log_odds, log_odds[::-1, ::-1])):
            weight[2 * k + strand, :, left:left + motif.width] = torch.from_numpy(matrix.copy())
    with torch.no_grad():
        model.conv.weight.copy_(weight)
        model.conv.bias.zero_()
    return model.eval()


@pytest.mark.slow
def test_attribute_saves_the_maps_and_finds_the_planted_motifs_de_novo(demo_dir, jaspar,
                                                                         tmp_path, monkeypatch):
    """-i saves the full IG maps (equal to IG computed here); -s alone on them, without the
    model, names REST (planted in IR sequences, the detector's IR motif) and SRF (non-IR)."""
    import Attribute
    from src.config import BassetConfig, config_to_dict
    from src.data.encoding import codes_to_one_hot
    from src.train.checkpoints import save_checkpoint

    by_id = {m.matrix_id: m for m in jaspar}
    rest, srf = by_id["MA0138.3"], by_id["MA0083.3"]
    run = tmp_path / "Detector_run"
    run.mkdir()
    data = BassetConfig.model_validate({"data_path": str(demo_dir), "sequence_length": 300,
                                        "results_path": "unused", "num_workers": 0})
    model = motif_detector(srf, rest)
    save_checkpoint(run / "best.pt", model, config_to_dict(data))
    settings = tmp_path / "Attribute.json"
    settings.write_text(json.dumps({
        "n_logos": 0, "ig_steps": 8, "prediction_threshold": 0.7,
        "denovo": {"min_metacluster_size": 30, "final_min_cluster_size": 10}}))

    def attribute(*flags):
        try:
            Attribute.main(["--json", str(settings), "-m", str(run), "--no-progress", *flags])
        except SystemExit as stop:
            return stop.code
        return 0

    assert attribute("-s") == 2  # no maps yet: says to run -i
    assert attribute("-i") == 0
    out = run / "IG"
    assert maps.is_complete(out) and not denovo.is_complete(out)
    saved = maps.load_attribution_maps(out)
    rows = np.arange(0, len(saved), 37)
    expected, _, _ = integrated_gradients(model, codes_to_one_hot(np.asarray(saved.codes[rows])),
                                          torch.from_numpy(saved.table["label"].to_numpy()[rows]),
                                          steps=8)
    np.testing.assert_allclose(saved.attributions[rows], expected.numpy(), atol=1e-5)
    windows = pd.read_csv(out / "windows.csv", keep_default_na=False)
    assert set(windows["header"]) <= set(saved.table["header"])
    assert (saved.table["probability"] > 0.7).all()

    def no_model(*args, **kwargs):
        raise AssertionError("-s must not load the model")

    monkeypatch.setattr("src.train.checkpoints.load_model", no_model)
    assert attribute("-s") == 0
    assert denovo.is_complete(out)
    table = pd.read_csv(out / "denovo" / "patterns.csv", keep_default_na=False)
    best = table[table["called"] & (table["sign"] == "pos")].groupby("class").head(1)
    assert dict(zip(best["class"], best["best_match"])) == {"IR": "REST", "non-IR": "SRF"}
    assert (best["best_q"].astype(float) <= 0.05).all()
    log = (out / "run.log").read_text()
    assert "called (a database motif with q <= 0.05)" in log and "TF-MoDISco" in log
    overview = denovo.patterns_overview(out)
    assert "REST (MA0138.3)" in overview["best match"].tolist()
    # new maps (-i --force) make the de novo outputs stale
    monkeypatch.undo()
    assert attribute("-i", "--force") == 0
    assert maps.is_complete(out) and not denovo.is_complete(out)


def test_denovo_settings_are_validated(tmp_path):
    from src.config import AttributeConfig, load_config

    assert AttributeConfig().denovo.max_seqlets_per_metacluster == 5000
    path = tmp_path / "Attribute.json"
    path.write_text('{\n  "denovo": {\n    "max_seqlet_per_metacluster": 10\n  }\n}\n')
    with pytest.raises(InputError, match=r"denovo\.max_seqlet_per_metacluster.*line 3.*"
                                         r"did you mean 'max_seqlets_per_metacluster'"):
        load_config(path, AttributeConfig)
    path.write_text('{"denovo": {"q_threshold": 0}}')
    with pytest.raises(InputError, match=r"denovo\.q_threshold"):
        load_config(path, AttributeConfig)


def test_maps_shorter_than_a_seqlet_core_are_refused(tmp_path):
    table = pd.DataFrame({"header": ["a", "b"], "label": [1, 0], "reverse_complement": False,
                          "seq_start": 0, "seq_end": 10})
    short = maps.AttributionMaps(table, np.ones((2, 10), np.uint8),
                                 np.zeros((2, 4, 10), np.float32))
    with pytest.raises(InputError, match=r"10 columns wide.*sliding_window_size = 20"):
        denovo.run_denovo(short, [], tmp_path)


def test_a_small_database_is_refused_before_any_work(tmp_path):
    from src.config import AttributeConfig
    from src.interpret.motifs import Motif, write_meme

    small = tmp_path / "six.meme"
    write_meme([Motif(f"M{i}", f"m{i}", np.full((4, 6), 0.25)) for i in range(6)], small)
    config = AttributeConfig(database=str(small))
    with pytest.raises(InputError, match=r"6 motif\(s\).*set database \(-d\)"):
        denovo.prepare_denovo(tmp_path, config, integrate=True, inputs=object())
    config = AttributeConfig(database=str(small), denovo={"database": str(small)})
    with pytest.raises(InputError, match=r"set denovo\.database"):
        denovo.prepare_denovo(tmp_path, config, integrate=True, inputs=object())
