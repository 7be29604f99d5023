"""Property-based tests (hypothesis) of every parser of user files, the encoder and the safe
checkpoint loader: whatever the bytes, the result is either a valid value (checked against the
contract) or an `InputError`, never another exception (which would reach the user as a
traceback). And the other way round: input that the contract calls valid (decided by a small
oracle in each test, written from the file format, not from the parser) must never be refused.

Examples are derandomized (the same on every run) and the hypothesis database is off, so the
tests are deterministic and write nothing outside their temporary folder.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from src.config import (
    AttributeConfig,
    BassetConfig,
    ConvNetConfig,
    DNABert2Config,
    FSeiConfig,
    LGBMConfig,
    LRConfig,
    PreprocessConfig,
    load_config,
)
from src.data.encoding import LETTERS, encode_codes
from src.data.sequences import read_sequence_table
from src.data.splits import SPLITS, load_split_indices, split_paths
from src.errors import InputError
from src.features.files import open_feature_data, read_targets
from src.interpret.motifs import read_meme
from src.models import build_model
from src.models.sei_targets import read_target_names
from src.runs import read_predictions
from src.train.checkpoints import read_checkpoint, save_checkpoint

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
CONFIG_CLASSES = [BassetConfig, ConvNetConfig, FSeiConfig, DNABert2Config, LRConfig, LGBMConfig,
                  PreprocessConfig, AttributeConfig]

# text that looks like the files it is fed to: their letters, separators and some noise
csv_text = st.text(alphabet=LETTERS + LETTERS.lower() + "01xX,\"\n\r \t-.éN" + string.digits,
                   max_size=300)
any_bytes = st.binary(max_size=300)


def _write(path: Path, content) -> Path:
    if isinstance(content, str):
        content = content.encode("utf-8", errors="surrogatepass")
    path.write_bytes(content)
    return path


# --- final_data.csv -----------------------------------------------------------------------------

row = st.tuples(st.text(alphabet=string.ascii_letters + "_|", max_size=6),
                st.text(alphabet=LETTERS + LETTERS.lower() + "XZ- *", max_size=12),
                st.sampled_from(["0", "1", "1.0", "2", "-1", "yes", "", " 1", "nan", "1e0"]))
header_line = st.sampled_from(["header,sequence,label", "Header,Sequence,Label",
                               "header,seq,label", "label,sequence,header",
                               "header,sequence,label,label", "\ufeffheader,sequence,label",
                               "header,sequence"])


valid_row = st.tuples(st.text(alphabet=string.ascii_letters + "_|", max_size=6),
                      st.text(alphabet=LETTERS + LETTERS.lower(), min_size=1, max_size=12),
                      st.sampled_from(["0", "1", "1.0", " 1", "1e0"]))


@FUZZ
@given(header=st.one_of(st.just("header,sequence,label"), header_line),
       rows=st.one_of(st.lists(valid_row, min_size=1, max_size=6), st.lists(row, max_size=6)),
       noise=st.one_of(st.none(), st.none(), csv_text,
                                                                            any_bytes))
def test_sequence_table_reader(tmp_path, header, rows, noise):
    if noise is None:
        content = header + "\n" + "".join(f"{h},{s},{y}\n" for h, s, y in rows)
    else:
        content = noise
    path = _write(tmp_path / "final_data.csv", content)
    valid = noise is None and _valid_table(header, rows)
    try:
        table = read_sequence_table(path)
        codes = encode_codes(table.sequences, 16, source=str(path),
                             describe_row=table.describe_row)
    except InputError as err:
        assert not valid, f"valid input refused: {err}"
        assert str(path) in str(err)
        return
    assert set(np.unique(table.labels)) <= {0, 1} and table.labels.dtype == np.int64
    assert len(table.headers) == len(table.sequences) == len(table.labels) >= 1
    assert all(table.sequences) and codes.shape == (len(table), 16)


def _valid_table(header: str, rows) -> bool:
    """The data contract: the exact header (a byte-order mark allowed), at least one row, labels
    0/1 in any numeric spelling, sequences of IUPAC letters (any case, surrounding spaces)."""
    iupac = set(LETTERS + LETTERS.lower())
    return (header.lstrip("\ufeff") == "header,sequence,label" and len(rows) > 0
            and all(label.strip() in ("0", "1", "1.0", "1e0") for _, _, label in rows)
            and all(seq.strip() and set(seq.strip()) <= iupac for _, seq, _ in rows))


# --- the encoder ----------------------------------------------------------------------------------

@FUZZ
@given(sequences=st.lists(st.text(max_size=20), max_size=5), length=st.integers(0, 24))
def test_encoder_accepts_iupac_and_names_anything_else(sequences, length):
    try:
        codes = encode_codes(sequences, length)
    except InputError as err:
        bad = [s for s in sequences if len(s) > length or set(s) - set(LETTERS + LETTERS.lower())]
        assert bad, f"valid input refused: {err}"
        return
    assert all(len(s) <= length and set(s) <= set(LETTERS + LETTERS.lower()) for s in sequences)
    assert codes.shape == (len(sequences), length) and codes.dtype == np.uint8
    # every letter kept, in order, centred
    for s, row_codes in zip(sequences, codes):
        kept = row_codes[row_codes > 0]
        assert "".join(LETTERS[c - 1] for c in kept) == s.upper()


# --- split files ----------------------------------------------------------------------------------

index_line = st.one_of(st.integers(-3, 25).map(str), st.sampled_from(["", " 4 ", "x", "3.0", "1e1",
                                                                       "\t7", "٣", "0x1"]))


@st.composite
def valid_split_files(draw):
    """Three non-empty disjoint files of row numbers below 20, with blank lines and spaces."""
    rows = draw(st.permutations(range(20)))
    cut1 = draw(st.integers(1, 18))
    cut2 = draw(st.integers(cut1 + 1, 19))
    pad = draw(st.sampled_from(["", " ", "\t"]))
    return tuple("\n".join(f"{pad}{r}{pad}" for r in part) + draw(st.sampled_from(["", "\n", "\n\n"]))
                 for part in (rows[:cut1], rows[cut1:cut2], rows[cut2:]))


@FUZZ
@given(files=valid_split_files() | st.tuples(*[st.one_of(st.lists(index_line, max_size=8).map("\n".join), any_bytes,
                                   st.none())] * 3))
def test_split_file_reader(tmp_path, files):
    for path in split_paths(tmp_path).values():
        path.unlink(missing_ok=True)
    for path, content in zip(split_paths(tmp_path).values(), files):
        if content is not None:
            _write(path, content)
    assume(any(content is not None for content in files))  # none at all: splits are made
    valid = _valid_splits(files, n_rows=20)
    try:
        splits = load_split_indices(tmp_path, n_rows=20)
    except InputError as err:
        assert not valid, f"valid split files refused: {err}"
        assert "indices.txt" in str(err) or "split" in str(err)
        return
    rows = np.concatenate([splits[s] for s in SPLITS])
    assert all(len(splits[s]) for s in SPLITS)
    assert rows.min() >= 0 and rows.max() < 20 and len(np.unique(rows)) == len(rows)


def _valid_splits(files, n_rows: int) -> bool:
    """Three files of decimal row numbers (surrounding spaces and blank lines allowed), each
    non-empty, in range, and no row twice within or across the files."""
    if any(not isinstance(content, str) for content in files):
        return False
    rows = []
    for content in files:
        numbers = [line.strip() for line in content.splitlines() if line.strip()]
        if not numbers or not all(n.isascii() and n.isdigit() for n in numbers):
            return False
        rows += [int(n) for n in numbers]
    return all(r < n_rows for r in rows) and len(set(rows)) == len(rows)


# --- MEME motif files -----------------------------------------------------------------------------

number = st.one_of(st.floats(-0.5, 1.5, allow_nan=False).map(lambda v: f"{v:.3f}"),
                   st.sampled_from(["0.25", "nan", "inf", "-0", "x", "1e-3", "0.25,"]))
matrix_row = st.lists(number, min_size=2, max_size=5).map(" ".join)
motif_block = st.tuples(
    st.sampled_from(["MOTIF MA0001.1 CTCF", "MOTIF MA0002.1", "MOTIF", "MOTIF a b c"]),
    st.sampled_from(["letter-probability matrix: alength= 4 w= 2 nsites= 20 E= 0",
                     "letter-probability matrix: alength= 4 w= 3",
                     "letter-probability matrix: alength= 20 w= 2", "letter-probability matrix:",
                     ""]),
    st.lists(st.one_of(matrix_row, st.just("0.25 0.25 0.25 0.25")), max_size=4),
).map(lambda b: "\n".join([b[0], b[1], *b[2], ""]))


valid_block = st.tuples(st.sampled_from(["MOTIF MA0001.1 CTCF", "MOTIF MA0002.1"]),
                        st.integers(1, 4)).map(
    lambda b: "\n".join([b[0], f"letter-probability matrix: alength= 4 w= {b[1]}",
                         *["0.25 0.25 0.25 0.25"] * b[1], ""]))


@FUZZ
@given(blocks=st.lists(valid_block, min_size=1, max_size=3) | st.lists(motif_block, max_size=3),
       noise=st.one_of(st.none(), st.none(), csv_text, any_bytes))
def test_meme_reader(tmp_path, blocks, noise):
    content = ("MEME version 4\n\nALPHABET= ACGT\n\n" + "\n".join(blocks)) if noise is None \
        else noise
    path = _write(tmp_path / "motifs.meme", content)
    valid = noise is None and _valid_meme(blocks)
    try:
        motifs = read_meme(path)
    except InputError as err:
        assert not valid, f"a valid MEME file refused: {err}"
        assert str(path) in str(err)
        return
    assert motifs
    for motif in motifs:
        p = motif.probabilities
        assert p.shape[0] == 4 and p.shape[1] >= 1 and np.isfinite(p).all() and (p >= 0).all()
        np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=1e-9)


def _valid_meme(blocks) -> bool:
    """At least one motif, each with an identifier, a DNA letter-probability header and as many
    rows of four probabilities summing to 1 as its w= says (any number >= 1 without w=)."""
    if not blocks:
        return False
    for block in blocks:
        lines = block.splitlines()
        motif, header, rows = lines[0], lines[1], lines[2:]
        width = re.search(r"w= (\d+)", header)
        if motif.strip() == "MOTIF" or not header.startswith("letter-probability matrix:") \
                or "alength= 20" in header or not rows \
                or any(row != "0.25 0.25 0.25 0.25" for row in rows) \
                or (width and len(rows) != int(width.group(1))):
            return False
    return True


# --- target.names ---------------------------------------------------------------------------------

name_line = st.one_of(st.sampled_from(["HepG2 | CTCF | ID:1", "K562 | H3K27ac | ID:2",
                                       "A | DNase | x", "A | ATAC-seq", "B |  | x", "", "   ",
                                       "no separator", "a|b|c|d"]),
                      st.text(alphabet=string.ascii_letters + " |:.\t\r", max_size=20))


@FUZZ
@given(lines=st.lists(name_line, max_size=8), expected=st.one_of(st.none(), st.integers(0, 8)),
       noise=st.one_of(st.none(), any_bytes))
def test_target_names_reader(tmp_path, lines, expected, noise):
    path = _write(tmp_path / "target.names", "\n".join(lines) if noise is None else noise)
    valid = noise is None and _valid_names("\n".join(lines), expected)
    try:
        targets = read_target_names(path, n_outputs=expected)
    except InputError as err:
        assert not valid, f"valid target names refused: {err}"
        assert str(path) in str(err)
        return
    assert len(targets) >= 1 and (expected is None or len(targets) == expected)
    assert set(targets.groups) <= {"TF", "HM", "ACC"}
    sets = [targets.indices(s) for s in ("TF", "HM", "ACC")]
    assert sorted(np.concatenate(sets).tolist()) == list(range(len(targets)))


def _valid_names(text: str, expected) -> bool:
    """One output per line (trailing blank lines ignored), each 'cell | assay | ...' with a
    non-blank assay; as many as the model has outputs."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return (len(lines) > 0 and (expected is None or len(lines) == expected)
            and all(len(line.split("|")) >= 2 and line.split("|")[1].strip() for line in lines))


# --- JSON configs ---------------------------------------------------------------------------------

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
              st.text(max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=5), children, max_size=3)),
    max_leaves=6)


@FUZZ
@given(config_class=st.sampled_from(CONFIG_CLASSES), data=st.data())
def test_config_loader(tmp_path, config_class, data):
    keys = list(config_class.model_fields) + ["unknown_key", "max_epoch"]
    settings_ = data.draw(st.dictionaries(st.sampled_from(keys), json_value, max_size=5))
    if config_class in (LRConfig, LGBMConfig) and data.draw(st.booleans()):
        settings_.setdefault("features_path", "features")
    text = json.dumps(settings_, indent=1)
    if data.draw(st.booleans()):  # damaged text too
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] + data.draw(st.text(max_size=3)) + text[cut:]
    path = _write(tmp_path / "config.json", text)
    try:
        config = load_config(path, config_class)
    except InputError as err:
        assert str(path) in str(err)
        return
    assert isinstance(config, config_class)


REQUIRED = {LRConfig: {"features_path": "features"}, LGBMConfig: {"features_path": "features"}}


@FUZZ
@given(config_class=st.sampled_from(CONFIG_CLASSES), data=st.data())
def test_config_loader_accepts_every_valid_config(tmp_path, config_class, data):
    """Any subset of a class's settings, at their defaults or at another valid value, loads."""
    valid = config_class(**REQUIRED.get(config_class, {})).model_dump(mode="json")
    if "results_path" in valid:
        valid["results_path"] = data.draw(st.sampled_from(["results/x", "out", "/tmp/r"]))
    if "batch_size" in valid:
        valid["batch_size"] = data.draw(st.integers(1, 4096))
    keys = data.draw(st.lists(st.sampled_from(sorted(valid)), unique=True))
    chosen = {key: valid[key] for key in keys} | REQUIRED.get(config_class, {})
    path = _write(tmp_path / "config.json", json.dumps(chosen, indent=data.draw(
        st.sampled_from([None, 1, 4]))))
    config = load_config(path, config_class)  # must not raise
    assert {key: getattr(config, key) for key in chosen} == {
        key: getattr(config_class.model_validate(chosen), key) for key in chosen}


@FUZZ
@given(content=any_bytes)
def test_config_loader_on_any_bytes(tmp_path, content):
    path = _write(tmp_path / "config.json", content)
    try:
        load_config(path, BassetConfig)
    except InputError as err:
        assert str(path) in str(err)


# --- Sei feature files (.npy) ---------------------------------------------------------------------

npy_headers = [
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
    "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
    "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }",
    "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
    "{'descr': '<f4', 'shape': (3, 2)}", "{'descr': 'zz', 'fortran_order': False, 'shape': ()}",
    "(", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }"]
npy_header = st.sampled_from(npy_headers)


finite_body = st.lists(st.floats(-1e3, 1e3, width=32), min_size=6, max_size=8).map(
    lambda values: np.asarray(values, "<f4").tobytes())
label_body = st.lists(st.integers(0, 1), min_size=3, max_size=4).map(
    lambda values: np.asarray(values, "<i8").tobytes())


@FUZZ
@given(header=npy_header, body=st.one_of(finite_body, label_body, any_bytes),
       raw=st.one_of(st.none(), st.none(), any_bytes))
def test_feature_file_readers(tmp_path, header, body, raw):
    generated = raw is None
    if generated:
        padded = header + " " * (-(len(header) + 11) % 64) + "\n"
        raw = b"\x93NUMPY\x01\x00" + len(padded).to_bytes(2, "little") + padded.encode() + body
    path = _write(tmp_path / "data_ALL_train.npy", raw)
    float_ok = generated and header == npy_headers[0] and len(body) >= 24 \
        and np.isfinite(np.frombuffer(body[:24], "<f4")).all()
    labels = np.frombuffer(body[:24], "<i8") if len(body) >= 24 else None
    labels_ok = generated and header == npy_headers[1] and labels is not None \
        and set(labels.tolist()) <= {0, 1}
    try:
        data = open_feature_data(path)
        assert data.ndim == 2 and data.dtype.kind == "f"
    except InputError as err:
        assert not float_ok, f"a valid feature file refused: {err}"
        assert str(path) in str(err)
    try:
        targets = read_targets(path, 3, tmp_path / "data.npy")
        assert targets.shape == (3,) and set(targets.tolist()) <= {0, 1}
    except InputError as err:
        assert not labels_ok, f"a valid target file refused: {err}"
        assert str(path) in str(err)


# --- predictions.csv (Compare.py) -----------------------------------------------------------------

@FUZZ
@given(lines=st.lists(st.tuples(st.sampled_from(["a", "b_r", ""]),
                                st.sampled_from(["0", "1", "2", "x", "", "1.0"]),
                                st.sampled_from(["0.5", "1.5", "nan", "-0.1", "1", "p", ""])),
                      max_size=5),
       noise=st.one_of(st.none(), csv_text, any_bytes))
def test_predictions_reader(tmp_path, lines, noise):
    content = ("header,label,probability\n" + "".join(f"{h},{y},{p}\n" for h, y, p in lines)
               if noise is None else noise)
    path = _write(tmp_path / "predictions.csv", content)
    valid = noise is None and lines and all(
        label in ("0", "1", "1.0") and probability in ("0.5", "1") for _, label, probability in lines)
    try:
        frame = read_predictions(path)
    except InputError as err:
        assert not valid, f"valid predictions refused: {err}"
        assert str(path) in str(err)
        return
    assert len(frame) >= 1 and set(frame["label"]) <= {0, 1}
    assert frame["probability"].between(0, 1).all()


# --- checkpoints ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    arch = {"sequence_length": 100, "FC1inputSize": 32, "CNN1filters": 4, "CNN2filters": 4,
            "CNN3filters": 4, "FC1outputSize": 8, "FC2outputSize": 4}
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(path, build_model("Basset", arch), {"seed": 1}, training={"epoch": 0})
    return path.read_bytes()


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_checkpoints_are_input_errors(tmp_path, checkpoint_bytes, data):
    """Truncated, overwritten or spliced checkpoints: the unpickler fails in many ways (KeyError,
    TypeError, AssertionError, ... were seen), each an InputError naming the file."""
    content = bytearray(checkpoint_bytes)
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    if kind == "truncate":
        content = content[:data.draw(st.integers(0, len(content) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 6))):
            content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    else:
        at = data.draw(st.integers(0, len(content)))
        content[at:at + data.draw(st.integers(0, 64))] = data.draw(st.binary(max_size=64))
    path = _write(tmp_path / "best.pt", bytes(content))
    try:
        payload = read_checkpoint(path)
    except InputError as err:
        assert bytes(content) != checkpoint_bytes, f"an intact checkpoint refused: {err}"
        assert str(path) in str(err)
        return
    assert isinstance(payload, dict)  # a change that spared the structure (e.g. in a weight)
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
