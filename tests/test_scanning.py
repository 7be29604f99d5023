"""Motif scanning (src.interpret.scanning) and enrichment statistics (src.interpret.enrichment).

The batched scanner is checked against a naive scorer written here from the window strings (one
window, one motif, one offset at a time; the minus strand by scanning the reverse-complement
string), and the statistics against values computed by hand.
"""

import math

import numpy as np
import pytest

from src.data.encoding import IUPAC_BASES, reverse_complement
from src.errors import InputError
from src.interpret.enrichment import (
    format_table,
    motif_enrichment,
    two_proportion_ztest,
)
from src.interpret.motifs import Motif
from src.interpret.scanning import (
    best_attainable_score,
    encode_windows,
    log_odds_matrix,
    prepare_motifs,
    scan_windows,
    score_threshold_for_pvalue,
)

BACKGROUND = np.array([0.3, 0.2, 0.2, 0.3])
BASE = {"A": 0, "C": 1, "G": 2, "T": 3}


def random_motif(rng, width, name="M") -> Motif:
    """A motif with some sharp and some flat columns, and zeros (the pseudocount matters)."""
    p = rng.dirichlet(np.full(4, 0.3), size=width).T
    p[p < 0.02] = 0.0
    return Motif(f"MA{rng.integers(1000, 9999)}.{width}", name, p / p.sum(axis=0))


def naive_site_score(window: str, log_odds: np.ndarray, offset: int) -> float:
    """An ambiguous letter scores the mean log-odds of the bases it stands for."""
    total = 0.0
    for j in range(log_odds.shape[1]):
        bases = IUPAC_BASES[window[offset + j]]
        total += sum(log_odds[BASE[b], j] for b in bases) / len(bases)
    return total


def naive_best(window: str, log_odds: np.ndarray) -> tuple[float, list[tuple[int, str]]]:
    """Best score of one motif in one window on both strands, and every (offset, strand) where
    it is reached. The minus strand is the motif scanned along the reverse-complement window."""
    width = log_odds.shape[1]
    n = len(window) - width + 1
    if n <= 0:
        return -math.inf, []
    rc = reverse_complement(window)
    scored = [(naive_site_score(window, log_odds, o), o, "+") for o in range(n)]
    # a site at offset o on the minus strand starts at len - width - o of the reversed window
    scored += [(naive_site_score(rc, log_odds, len(window) - width - o), o, "-") for o in range(n)]
    best = max(s for s, _, _ in scored)
    return best, [(o, strand) for s, o, strand in scored if abs(s - best) < 1e-4]


def test_log_odds_and_best_score_by_hand():
    p = np.array([[0.5, 1.0], [0.5, 0.0], [0.0, 0.0], [0.0, 0.0]])
    lo = log_odds_matrix(p, BACKGROUND, pseudocount=0.1)
    # (p + 0.1 * b) / 1.1 / b
    assert lo[0, 0] == pytest.approx(math.log2((0.5 + 0.03) / 1.1 / 0.3))
    assert lo[1, 0] == pytest.approx(math.log2((0.5 + 0.02) / 1.1 / 0.2))
    assert lo[2, 1] == pytest.approx(math.log2(0.02 / 1.1 / 0.2))
    assert lo[0, 1] == pytest.approx(math.log2((1.0 + 0.03) / 1.1 / 0.3))
    expected_max = math.log2(0.52 / 1.1 / 0.2) + math.log2(1.03 / 1.1 / 0.3)
    assert best_attainable_score(lo) == pytest.approx(expected_max)


def test_threshold_is_fraction_of_best_log_odds_score_not_of_a_probability():
    rng = np.random.default_rng(3)
    motifs = [random_motif(rng, w) for w in (6, 9, 14)]
    motif_set = prepare_motifs(motifs, BACKGROUND, pseudocount=0.1, hit_fraction=0.8)
    for motif, threshold in zip(motifs, motif_set.thresholds):
        lo = log_odds_matrix(motif.probabilities, BACKGROUND, 0.1)
        best = sum(max(lo[:, j]) for j in range(motif.width))
        assert threshold == pytest.approx(0.8 * best)
        assert threshold != pytest.approx(0.8 * motif.probabilities.max())  # the old defect


@pytest.mark.parametrize("chunk_size", [5, 64])
def test_batched_scanner_equals_naive_scorer_on_both_strands(chunk_size):
    rng = np.random.default_rng(0)
    width = 24
    motifs = [random_motif(rng, w, f"TF{i}") for i, w in enumerate([3, 5, 5, 8, 11, 16, 24, 30])]
    lengths = rng.integers(4, width + 1, size=40)
    lengths[:25] = width
    windows = ["".join(rng.choice(list("ACGT"), size=n, p=BACKGROUND)) for n in lengths]
    # ambiguous letters send a window through the convolution path, the others use 4-mer tables
    for row in (3, 7, 26, 30, 33):
        where = rng.integers(0, lengths[row], size=2)
        letters = list(windows[row])
        for position, letter in zip(where, rng.choice(list("NRYSWKMBDHV"), size=2)):
            letters[position] = letter
        windows[row] = "".join(letters)
    motif_set = prepare_motifs(motifs, BACKGROUND, pseudocount=0.1, hit_fraction=0.6)
    codes, lens = encode_windows(windows, width)
    assert (lens == lengths).all()
    result = scan_windows(codes, lens, motif_set, chunk_size=chunk_size, return_scores=True,
                          progress=False)
    sites = result.sites.set_index(["window", "motif"])
    for m, window in enumerate(windows):
        for k, lo in enumerate(motif_set.log_odds):
            best, where = naive_best(window, lo)
            if best == -math.inf:  # motif longer than the window: never scored, never a hit
                assert result.best_scores[m, k] == -np.inf and not result.hits[m, k]
                continue
            assert result.best_scores[m, k] == pytest.approx(best, abs=1e-3)
            threshold = motif_set.thresholds[k]
            if abs(best - threshold) > 1e-3:
                assert result.hits[m, k] == (best >= threshold)
            if result.hits[m, k]:
                site = sites.loc[(m, k)]
                assert (int(site["offset"]), site["strand"]) in where
    assert result.hits.sum() == len(result.sites) > 20
    assert (result.sites["strand"] == "-").any() and (result.sites["strand"] == "+").any()


def test_scanner_reads_the_motif_not_its_reverse_complement():
    # An asymmetric motif: its consensus on the forward strand must score the maximum at that
    # offset on '+', and the reverse complement planted elsewhere on '-'. A convolution that
    # flipped the kernel would report the strands the other way round.
    p = np.full((4, 6), 0.01)
    for j, base in enumerate("AACGTC"):
        p[BASE[base], j] = 0.97
    motif = Motif("MA0001.1", "ASYM", p / p.sum(axis=0))
    motif_set = prepare_motifs([motif], [0.25] * 4, hit_fraction=0.95)
    background = "GGGGGGGGGGGGGGGGGGGGGGGG"
    forward = background[:5] + "AACGTC" + background[11:]
    minus = background[:9] + reverse_complement("AACGTC") + background[15:]
    codes, lengths = encode_windows([forward, minus, background], 24)
    result = scan_windows(codes, lengths, motif_set, return_scores=True, progress=False)
    assert result.hits[:, 0].tolist() == [True, True, False]
    assert result.best_scores[0, 0] == pytest.approx(motif_set.max_scores[0], abs=1e-4)
    sites = result.sites
    assert (sites.loc[0, "offset"], sites.loc[0, "strand"]) == (5, "+")
    assert (sites.loc[1, "offset"], sites.loc[1, "strand"]) == (9, "-")


def test_motif_longer_than_window_never_hits():
    rng = np.random.default_rng(1)
    long_motif = random_motif(rng, 12)
    motif_set = prepare_motifs([long_motif], BACKGROUND, hit_fraction=0.01)
    consensus = "".join("ACGT"[i] for i in long_motif.probabilities.argmax(axis=0))
    codes, lengths = encode_windows([consensus[:10], consensus], 12)
    result = scan_windows(codes, lengths, motif_set, return_scores=True, progress=False)
    assert result.hits[:, 0].tolist() == [False, True]
    assert result.best_scores[0, 0] == -np.inf


def test_pvalue_threshold_matches_exhaustive_enumeration():
    rng = np.random.default_rng(2)
    motif = random_motif(rng, 5)
    lo = log_odds_matrix(motif.probabilities, BACKGROUND, 0.1)
    kmers = np.array(np.meshgrid(*[range(4)] * 5, indexing="ij")).reshape(5, -1).T  # (1024, 5)
    scores = lo[kmers, np.arange(5)].sum(axis=1)
    probability = BACKGROUND[kmers].prod(axis=1)
    order = np.argsort(-scores)
    survival = np.cumsum(probability[order])  # P(S >= scores[order][i])
    n_bins = 20_000
    grid = (lo.max(axis=0) - lo.min(axis=0)).sum() / n_bins
    for p_value in (1e-1, 1e-2, 3e-3):
        passing = survival <= p_value * (1 + 1e-9)
        exact = scores[order][passing].min()  # lowest achievable score with P(S >= s) <= p
        below = scores[order][~passing].max()  # highest achievable score with P(S >= s) > p
        threshold = score_threshold_for_pvalue(lo, BACKGROUND, p_value, n_bins)
        # any threshold in (below, exact] separates the same sites; rounding moves it <= W grid
        assert below - 5 * grid < threshold <= exact + 5 * grid
    assert score_threshold_for_pvalue(lo, BACKGROUND, 1e-9) == math.inf  # unreachable
    motif_set = prepare_motifs([motif], BACKGROUND, p_value=1e-2)
    assert motif_set.thresholds[0] == pytest.approx(
        score_threshold_for_pvalue(lo, BACKGROUND, 1e-2))


def test_prepare_motifs_rejects_bad_settings():
    motif = Motif("MA1.1", "X", np.full((4, 4), 0.25))
    with pytest.raises(InputError, match="background"):
        prepare_motifs([motif], [0.5, 0.5, 0.0, 0.0])
    with pytest.raises(InputError, match="p_value"):
        prepare_motifs([motif], BACKGROUND, p_value=2.0)
    with pytest.raises(InputError, match="no motif"):
        prepare_motifs([], BACKGROUND)


def _pooled_z(a, n_a, b, n_b):
    p_a, p_b, pooled = a / n_a, b / n_b, (a + b) / (n_a + n_b)
    z = (p_a - p_b) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return z, math.erfc(abs(z) / math.sqrt(2))


def test_enrichment_statistics_by_hand():
    n_ir, n_non = 100, 200
    is_ir = np.array([True] * n_ir + [False] * n_non)
    hits = np.zeros((n_ir + n_non, 4), dtype=bool)
    hits[:30, 0] = True  # IR 30/100, non-IR 10/200
    hits[n_ir:n_ir + 10, 0] = True
    hits[:5, 1] = True  # IR 5/100, non-IR 60/200
    hits[n_ir:n_ir + 60, 1] = True
    hits[:12, 2] = True  # IR 12/100, non-IR 22/200
    hits[n_ir:n_ir + 22, 2] = True
    # motif 3: no hit anywhere
    table = motif_enrichment(hits, is_ir, ["M0", "M1", "M2", "M3"], ["A", "B", "C", "D"])
    assert table["matrix_id"].tolist() == ["M0", "M2", "M3", "M1"]  # by IR - non-IR difference
    assert table["rank"].tolist() == [1, 2, 3, 4]
    rows = table.set_index("matrix_id")
    expected = {"M0": (30, 10), "M1": (5, 60), "M2": (12, 22)}
    raw = {}
    for mid, (a, b) in expected.items():
        z, p = _pooled_z(a, n_ir, b, n_non)
        raw[mid] = p
        assert rows.loc[mid, "ir_hits"] == a and rows.loc[mid, "non_ir_hits"] == b
        assert rows.loc[mid, "ir_proportion"] == pytest.approx(a / n_ir)
        assert rows.loc[mid, "non_ir_proportion"] == pytest.approx(b / n_non)
        assert rows.loc[mid, "difference"] == pytest.approx(a / n_ir - b / n_non)
        assert rows.loc[mid, "z"] == pytest.approx(z, rel=1e-9)
        assert rows.loc[mid, "p_value"] == pytest.approx(p, rel=1e-6)
        # adjusted over the 3 motifs with a hit (M3 hits nothing: not a test), as the study did
        assert rows.loc[mid, "p_bonferroni"] == pytest.approx(min(1.0, 3 * p), rel=1e-6)
    assert rows.loc["M3", "z"] == 0 and rows.loc["M3", "p_value"] == 1.0
    assert rows.loc["M3", "p_bonferroni"] == 1.0 and rows.loc["M3", "p_bh"] == 1.0
    # Benjamini-Hochberg by hand: sort ascending, p_(i) * m / i, then cumulative min from the top
    ordered = sorted(raw.items(), key=lambda item: item[1])
    adjusted, running = {}, 1.0
    for i in range(len(ordered), 0, -1):
        mid, p = ordered[i - 1]
        running = min(running, p * len(ordered) / i)
        adjusted[mid] = running
    for mid, value in adjusted.items():
        assert rows.loc[mid, "p_bh"] == pytest.approx(value, rel=1e-6)
    assert rows.loc["M0", "enriched_in"] == "IR" and rows.loc["M1", "enriched_in"] == "non-IR"
    text = format_table(table)
    assert text.splitlines()[0].split()[:4] == ["rank", "TF", "motif", "consensus"]


def test_ztest_degenerate_and_invalid_groups():
    assert two_proportion_ztest(0, 10, 0, 20) == (0.0, 1.0)
    assert two_proportion_ztest(10, 10, 20, 20) == (0.0, 1.0)
    with pytest.raises(ValueError):
        two_proportion_ztest(0, 0, 1, 5)


def test_encode_windows_left_aligns_short_windows():
    codes, lengths = encode_windows(["ACGTA", "AC"], 6)
    assert lengths.tolist() == [5, 2]
    assert codes[1, :2].tolist() == codes[0, :2].tolist() and codes[1, 2:].tolist() == [0] * 4


# --- the study's scoring (Attribute.py at 525136a) --------------------------------------------

def original_hits(windows, motifs, background, zero=0.001, fraction=0.8):
    """The study's hit rule, transcribed: natural-log odds of the motif with zeros replaced by
    `zero` against the background, `scipy.signal.convolve2d(one_hot(window), log_odds,
    "valid")` (a true convolution: the motif's reverse complement is what slides over the
    window), hit when any score > fraction x the largest single log-odds entry."""
    from scipy.signal import convolve2d

    out = np.zeros((len(windows), len(motifs)), dtype=bool)
    for k, motif in enumerate(motifs):
        log_odds = np.log(np.where(motif.probabilities == 0, zero, motif.probabilities)
                          / np.asarray(background)[:, None])
        threshold = fraction * np.max(log_odds)
        for m, window in enumerate(windows):
            if motif.width > len(window):
                continue
            one_hot = np.array([[float(base == c) for base in window] for c in "ACGT"])
            out[m, k] = (convolve2d(one_hot, log_odds, mode="valid") > threshold).any()
    return out


def test_zero_probability_and_max_entry_rule_are_the_studys():
    rng = np.random.default_rng(5)
    motifs = [random_motif(rng, w, f"M{w}") for w in (5, 8, 12)]
    assert any((m.probabilities == 0).any() for m in motifs)
    log_odds = log_odds_matrix(motifs[0].probabilities, BACKGROUND, 0.0, 0.001)
    expected = np.log2(np.where(motifs[0].probabilities == 0, 0.001, motifs[0].probabilities)
                       / BACKGROUND[:, None])
    np.testing.assert_allclose(log_odds, expected)
    motif_set = prepare_motifs(motifs, BACKGROUND, pseudocount=0.0, zero_probability=0.001,
                               hit_rule="max_entry")
    np.testing.assert_allclose(motif_set.thresholds,
                               [0.8 * np.max(lo) for lo in motif_set.log_odds])
    windows = ["".join(rng.choice(list("ACGT"), size=30)) for _ in range(150)]
    for i in range(0, 150, 3):  # plant instances of the motifs, on either strand
        motif = motifs[i % 3]
        site = "".join("ACGT"[rng.choice(4, p=col)] for col in motif.probabilities.T)
        site = reverse_complement(site) if i % 2 else site
        windows[i] = windows[i][:7] + site + windows[i][7 + len(site):]
    codes, lengths = encode_windows(windows, 30)
    ours = scan_windows(codes, lengths, motif_set, progress=False).hits
    # the study scans only the motif's reverse complement on each window; both strands here
    rc = [Motif(m.matrix_id, m.name, m.probabilities[::-1, ::-1]) for m in motifs]
    study = original_hits(windows, motifs, BACKGROUND)
    study_rc = original_hits(windows, rc, BACKGROUND)
    np.testing.assert_array_equal(ours, study | study_rc)
    assert (study != ours).any()  # one strand misses sites
    with pytest.raises(InputError, match="minus infinity"):
        prepare_motifs(motifs, BACKGROUND, pseudocount=0.0, zero_probability=None)
    with pytest.raises(InputError, match="hit_rule"):
        prepare_motifs(motifs, BACKGROUND, hit_rule="best")


def test_enrichment_per_intron_by_hand():
    from scipy.stats import hypergeom

    from src.interpret.enrichment import (
        format_intron_table,
        hits_per_intron,
        intron_enrichment,
        intron_of_windows,
    )

    # windows: intron a (IR) 3 windows + 1 on its reverse complement, b (IR) 1, c (non-IR) 2,
    # d (non-IR) 1 on the reverse complement only, e (non-IR) 1
    headers = ["a", "a", "a", "a_r", "b", "c", "c", "d_r", "e"]
    rc = [False, False, False, True, False, False, False, True, False]
    is_ir = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    hits = np.zeros((9, 3), dtype=bool)
    hits[[0, 1, 3], 0] = True  # motif 0: a three times (one intron), c once
    hits[5, 0] = True
    hits[[3, 7, 8], 1] = True  # motif 1: a (on its RC), d (on its RC), e
    introns = intron_of_windows(headers, rc)
    assert introns.tolist() == ["a", "a", "a", "a", "b", "c", "c", "d", "e"]
    names, collapsed = hits_per_intron(hits, introns)
    assert names.tolist() == list("abcde")
    np.testing.assert_array_equal(collapsed[:, 0], [1, 0, 1, 0, 0])
    table = intron_enrichment(hits, is_ir, introns, ["M0", "M1", "M2"], ["A", "B", "C"])
    rows = table.set_index("matrix_id")
    assert rows.loc["M0", ["ir_introns_hit", "non_ir_introns_hit", "ir_introns",
                           "non_ir_introns"]].tolist() == [1, 1, 2, 3]
    assert rows.loc["M1", ["ir_introns_hit", "non_ir_introns_hit"]].tolist() == [1, 2]
    assert rows.loc["M0", "difference"] == pytest.approx(1 / 2 - 1 / 3)

    def fisher_two_sided(a, n_ir, b, n_non):  # sum of the tables no more probable than this
        total, hit = n_ir + n_non, a + b
        pmf = hypergeom(total, hit, n_ir).pmf
        observed = pmf(a)
        return sum(pmf(x) for x in range(max(0, hit - n_non), min(hit, n_ir) + 1)
                   if pmf(x) <= observed * (1 + 1e-7))

    p0, p1 = fisher_two_sided(1, 2, 1, 3), fisher_two_sided(1, 2, 2, 3)
    assert rows.loc["M0", "p_value"] == pytest.approx(p0)
    assert rows.loc["M1", "p_value"] == pytest.approx(p1)
    # two motifs with a hit are tested; M2 hits nothing
    assert rows.loc["M0", "p_bonferroni"] == pytest.approx(min(1, 2 * p0))
    assert rows.loc["M2", ["p_value", "p_bonferroni", "p_bh"]].tolist() == [1, 1, 1]
    assert rows.loc["M0", "odds_ratio"] == pytest.approx((1 * 2) / (1 * 1))
    assert table["rank"].tolist() == [1, 2, 3]
    assert format_intron_table(table).splitlines()[0].split()[:4] == ["rank", "TF", "motif",
                                                                      "consensus"]
    with pytest.raises(ValueError, match="both classes"):
        intron_enrichment(hits, np.array([1, 0, 1, 1, 1, 0, 0, 0, 0], bool), introns,
                          ["M0", "M1", "M2"], ["A", "B", "C"])
