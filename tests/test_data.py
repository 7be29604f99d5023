"""The data contract: final_data.csv, split files, augmentation, datasets and loaders."""

import json

import numpy as np
import pytest
import torch
from conftest import random_sequences, write_dataset

from src.config import SequenceDataConfig
from src.data.datasets import OneHotDataset, build_sequence_datasets, make_loader
from src.data.encoding import one_hot_encode, reverse_complement
from src.data.sequences import read_sequence_table
from src.data.splits import (
    augment_rows,
    load_split_indices,
    split_paths,
    write_split_indices,
)
from src.errors import InputError


def write_csv(tmp_path, text):
    path = tmp_path / "final_data.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("header,seq,label\na,ACGT,1\n", r"missing column\(s\) sequence; found header, seq, label"),
    ("Header,Sequence,Label\na,ACGT,1\n", r"'Header' should be named 'header'"),
    ("header,sequence,label\na,ACGT,2\n", r"line 2 \(row 0, header 'a'\) has label '2'.*0 \(not retained\) or 1"),
    ("header,sequence,label\na,ACGT,1\nb,ACGT,yes\n", r"line 3 \(row 1, header 'b'\) has label 'yes'"),
    ("header,sequence,label\na,ACGT,\n", r"line 2 .* has label ''"),
    ("header,sequence,label\na,ACGT,1\nb,,0\n", r"line 3 \(row 1, header 'b'\) has an empty sequence"),
    ("header,sequence,label\na,ACGT,1\nb,ACXT,0\n", r"line 3 \(row 1, header 'b'\) has 'X' at position 3"),
    ("header,sequence,label\n", r"has no rows"),
    ("", r"is empty"),
    ("header,sequence,label\na,ACGT,1,extra,more\nb,AC,0\n", r"not a readable CSV"),
])
def test_bad_tables_name_line_and_fix(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        table = read_sequence_table(write_csv(tmp_path, text))
        # letters are checked when the sequences are encoded
        from src.data.encoding import encode_codes

        encode_codes(table.sequences, 10, source=str(table.path), describe_row=table.describe_row)


def test_missing_file_says_where_to_get_data(tmp_path):
    with pytest.raises(InputError, match="final_data.csv not found.*Make_demo_data.py"):
        read_sequence_table(tmp_path / "final_data.csv")


def test_lowercase_iupac_and_float_labels_are_accepted(tmp_path):
    table = read_sequence_table(write_csv(tmp_path, "header,sequence,label\na,acgtn,1.0\nb,RYKM,0\n"))
    assert table.labels.tolist() == [1, 0] and table.sequences == ["acgtn", "RYKM"]


def test_splits_are_made_once_with_the_study_sizes_and_never_overwritten(tmp_path):
    splits = write_split_indices(tmp_path, 75_992, seed=100)
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [60_794, 7_599, 7_599]
    assert len(np.unique(np.concatenate(list(splits.values())))) == 75_992
    before = {s: p.read_bytes() for s, p in split_paths(tmp_path).items()}
    again = load_split_indices(tmp_path, 75_992, seed=7)  # another seed must not remake them
    for split in splits:
        np.testing.assert_array_equal(again[split], splits[split])
    assert before == {s: p.read_bytes() for s, p in split_paths(tmp_path).items()}


def test_split_creation_is_seeded(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    a = load_split_indices(tmp_path / "a", 50, seed=3)
    b = load_split_indices(tmp_path / "b", 50, seed=3)
    c = load_split_indices(tmp_path / "c", 50, seed=4)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not np.array_equal(a["train"], c["train"])


def write_splits(folder, train, valid, test):
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{name}_indices.txt").write_text(rows)


@pytest.mark.parametrize("train, valid, test, message", [
    ("0\n1\n", "2\n", "3\n9\n", r"test_indices.txt, line 2: row 9 is out of range: the data has 5 rows"),
    ("0\n1\n0\n", "2\n", "3\n", r"train_indices.txt, line 3: row 0 repeats line 1"),
    ("0\n1\n", "2\n1\n", "3\n", r"row 1 is in both .*train_indices.txt and .*valid_indices.txt"),
    ("0\nx\n", "2\n", "3\n", r"train_indices.txt, line 2: 'x' is not a row number"),
    ("0\n1\n", "", "3\n", r"valid_indices.txt is empty"),
    ("0\n-1\n", "2\n", "3\n", r"row -1 is out of range"),
])
def test_bad_split_files(tmp_path, train, valid, test, message):
    write_splits(tmp_path, train, valid, test)
    before = {p: p.read_text() for p in tmp_path.iterdir()}
    with pytest.raises(InputError, match=message):
        load_split_indices(tmp_path, 5)
    assert before == {p: p.read_text() for p in tmp_path.iterdir()}  # nothing changed on disk


def test_incomplete_split_set_is_an_error_not_a_silent_remake(tmp_path):
    (tmp_path / "train_indices.txt").write_text("0\n")
    with pytest.raises(InputError, match=r"valid_indices.txt, .*test_indices.txt missing"):
        load_split_indices(tmp_path, 5)
    assert not (tmp_path / "valid_indices.txt").exists()


def make_table(tmp_path, n=12, length=20):
    sequences = random_sequences(n, length, seed=2, alphabet="ACGTN")
    labels = [i % 3 == 0 for i in range(n)]
    write_dataset(tmp_path, sequences, np.array(labels, dtype=int))
    return read_sequence_table(tmp_path / "final_data.csv")


@pytest.mark.parametrize("targets", [[0, 1], [1], [0], []])
def test_augmentation_counts_order_and_headers(tmp_path, targets):
    table = make_table(tmp_path)
    rows = np.array([5, 0, 3, 7, 9])
    split = augment_rows(table, rows, True, targets)
    in_targets = [r for r in rows if table.labels[r] in targets]
    assert len(split.labels) == len(rows) + len(in_targets)
    assert split.headers.tolist() == ([table.headers[r] for r in rows]
                                      + [table.headers[r] + "_r" for r in in_targets])
    assert split.source_rows.tolist() == rows.tolist() + in_targets
    off = augment_rows(table, rows, False, targets)
    assert len(off.labels) == len(rows) and not off.is_reverse_complement.any()


@pytest.mark.parametrize("lazy", [False, True])
def test_datasets_hold_the_reverse_complement_of_their_rows(tmp_path, lazy):
    table = make_table(tmp_path)
    config = SequenceDataConfig(data_path=str(tmp_path), sequence_length=25, lazy_loading=lazy,
                                targets_for_reverse_complement=[1])
    datasets = build_sequence_datasets(config)
    indices = load_split_indices(tmp_path, len(table))
    for split, dataset in datasets.items():
        rows = indices[split]
        positives = [r for r in rows if table.labels[r] == 1]
        assert len(dataset) == len(rows) + len(positives)
        for i, row in enumerate(list(rows) + positives):
            x, y, index = dataset[i]
            sequence = table.sequences[row]
            if i >= len(rows):
                sequence = reverse_complement(sequence)
            np.testing.assert_array_equal(x.numpy(), one_hot_encode([sequence], 25)[0])
            assert y == table.labels[row] and index == i


def test_lazy_and_in_memory_datasets_are_identical(tmp_path):
    make_table(tmp_path, n=30)
    eager = build_sequence_datasets(SequenceDataConfig(data_path=str(tmp_path), sequence_length=21))
    lazy = build_sequence_datasets(SequenceDataConfig(data_path=str(tmp_path), sequence_length=21,
                                                      lazy_loading=True))
    for split in eager:
        assert len(eager[split]) == len(lazy[split])
        assert (eager[split].headers == lazy[split].headers).all()
        for i in range(len(eager[split])):
            assert torch.equal(eager[split][i][0], lazy[split][i][0])


def test_lazy_loading_still_validates_every_sequence_up_front(tmp_path):
    write_dataset(tmp_path, ["ACGT", "AC!T", "ACGT", "ACGT"], [0, 1, 0, 1])
    with pytest.raises(InputError, match=r"line 3 .* has '!' at position 3"):
        build_sequence_datasets(SequenceDataConfig(data_path=str(tmp_path), sequence_length=4,
                                                   lazy_loading=True))


def test_sequences_longer_than_the_model_length_are_rejected_with_the_row(tmp_path):
    write_dataset(tmp_path, ["ACGT", "ACGTACGT"], [0, 1])
    with pytest.raises(InputError, match=r"line 3 \(row 1, header 'seq1'\) is 8 bp, longer than"):
        build_sequence_datasets(SequenceDataConfig(data_path=str(tmp_path), sequence_length=6))


def test_loader_with_workers_yields_the_same_batches(tmp_path):
    codes = np.random.default_rng(0).integers(1, 5, size=(37, 10)).astype(np.uint8)
    dataset = OneHotDataset(codes, np.arange(37) % 2, np.array([f"h{i}" for i in range(37)]))
    plain = list(make_loader(dataset, 8, num_workers=0))
    workers = list(make_loader(dataset, 8, num_workers=2))
    assert len(plain) == len(workers) == 5
    for (x0, y0, i0), (x1, y1, i1) in zip(plain, workers):
        assert torch.equal(x0, x1) and torch.equal(y0, y1) and torch.equal(i0, i1)
    assert plain[0][0].dtype == torch.float32 and plain[0][0].shape == (8, 4, 10)


def test_a_gzip_compressed_table_is_read_and_other_compressions_are_named(tmp_path):
    import bz2
    import gzip
    import zipfile

    text = "header,sequence,label\na,ACGT,1\nb,acgn,0\n"
    path = tmp_path / "final_data.csv"  # compressed, but under the usual name
    path.write_bytes(gzip.compress(text.encode()))
    table = read_sequence_table(path)
    (tmp_path / "plain").mkdir()
    plain = read_sequence_table(write_csv(tmp_path / "plain", text))
    assert table.sequences == plain.sequences and table.labels.tolist() == [1, 0]
    path.write_bytes(gzip.compress(text.encode())[:25])  # cut off
    with pytest.raises(InputError, match="gzip-compressed but cannot be decompressed"):
        read_sequence_table(path)
    path.write_bytes(bz2.compress(text.encode()))
    with pytest.raises(InputError, match="is bzip2-compressed, not a text CSV file"):
        read_sequence_table(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("final_data.csv", text)
    with pytest.raises(InputError, match="is zip-compressed"):
        read_sequence_table(path)


def test_a_one_class_training_split_is_an_error(tmp_path, capsys):
    import Basset

    sequences = random_sequences(40, 60)
    write_dataset(tmp_path / "data", sequences, [0] * 40)
    config = tmp_path / "basset.json"
    config.write_text(json.dumps({
        "data_path": str(tmp_path / "data"), "results_path": str(tmp_path / "results"),
        "sequence_length": 60, "max_epochs": 1, "warmup_steps": 0, "num_workers": 0,
        "model_architecture": {"CNN1filters": 4, "CNN1filterSize": 5, "CNN1poolSize": 2,
                               "CNN1padding": 2, "CNN2filters": 4, "CNN2filterSize": 3,
                               "CNN2poolSize": 1, "CNN2padding": 1, "CNN3filters": 2,
                               "CNN3filterSize": 4, "CNN3poolSize": 2, "CNN3padding": 2,
                               "FC1inputSize": 32, "FC1outputSize": 4, "FC2outputSize": 4}}))
    with pytest.raises(SystemExit) as stop:
        Basset.main(["--json", str(config), "-n", "-t", "-e"])
    assert stop.value.code == 2
    message = capsys.readouterr().err
    # 40 rows: 4 valid, 4 test, 32 train, each with its reverse complement
    assert (f"the train split (data_path {tmp_path / 'data'}) holds 64 row(s) of label 0 and 0 "
            f"of label 1" in message)
    assert not (tmp_path / "results").exists()
