"""Preprocess_data_to_numpy.py: Sei features of every split, the feature-file contract, resume,
sharded writes and flat memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, random_sequences, write_dataset

import Preprocess_data_to_numpy as script
from src.config import PreprocessConfig
from src.data.encoding import one_hot_encode, reverse_complement
from src.data.splits import SPLITS
from src.errors import InputError
from src.features.extract import (
    SplitWriter,
    extract_rows,
    prepare,
    run_preprocess,
    shard_range,
)
from src.features.files import MARKER
from src.models.sei import Sei, load_sei, write_official_checkpoint

NAMES = ["HepG2 | CTCF | ID:1", "K562 | H3K27ac | ID:2", "A549 | DNase | ID:3",
         "HeLa | REST | ID:4", "GM12878 | H3K4me3 | ID:5", "Liver | ATAC-seq | ID:6",
         "HepG2 | ZNF274 | ENCODE | 1", "K562 | H2A.Z | ID:8", "HeLa | CENPA | ID:9",
         "GM12878 | TP53 | ID:10"]
TF, HM = [0, 3, 6, 9], [1, 4, 7, 8]
LENGTH = 96


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A tiny dataset (sequences of 30-80 bp, mixed case, IUPAC codes), a small Sei in the
    official format and its target names."""
    root = tmp_path_factory.mktemp("pre")
    rng = np.random.default_rng(4)
    sequences = [s[: int(rng.integers(30, 81))] for s in random_sequences(40, 80, seed=5)]
    sequences[3] = sequences[3].lower()
    sequences[7] = "NNACGTRYKM" + sequences[7][10:]
    labels = (rng.random(40) < 0.4).astype(int)
    write_dataset(root / "data", sequences, labels, headers=[f"intron{i}" for i in range(40)])
    torch.manual_seed(8)
    write_official_checkpoint(Sei((4, 6, 8), n_targets=len(NAMES)), root / "sei" / "sei.pth")
    (root / "sei" / "target.names").write_text("\n".join(NAMES) + "\n")
    return root


def make_config(inputs: Path, result: Path, **changes) -> PreprocessConfig:
    values = {"data_path": str(inputs / "data"), "result_path": str(result),
              "sei_path": str(inputs / "sei" / "sei.pth"),
              "target_names": str(inputs / "sei" / "target.names"),
              "sequence_length": LENGTH, "batch_size": 7, "device": "cpu",
              "targets_for_reverse_complement": [0, 1]}  # the study's code: [1] (the default)
    return PreprocessConfig(**{**values, **changes})


def read_split(folder: Path, split: str) -> dict:
    out = {f: np.load(folder / f"data_{f}_{split}.npy") for f in ("ALL", "TF", "HM")}
    out.update({f"target_{f}": np.load(folder / f"target_{f}_{split}.npy")
                for f in ("ALL", "TF", "HM")})
    out["headers"] = (folder / f"headers_{split}.txt").read_text().splitlines()
    return out


@pytest.fixture(scope="module")
def reference_run(inputs, tmp_path_factory) -> Path:
    """The script run once from the command line, with the JSON and overriding flags."""
    result = tmp_path_factory.mktemp("features")
    config = make_config(inputs, "unused", batch_size=100)
    (inputs / "pre.json").write_text(json.dumps(config.model_dump()))
    script.main(["--json", str(inputs / "pre.json"), "--result", str(result), "--batch-size", "7",
                 "--no-progress"])
    return result


def test_feature_files_follow_the_contract(inputs, reference_run):
    import pandas as pd

    table = pd.read_csv(inputs / "data" / "final_data.csv")
    model = load_sei(inputs / "sei" / "sei.pth")
    for fset, cols in (("ALL", list(range(10))), ("TF", TF), ("HM", HM)):
        names = (reference_run / f"features_{fset}.txt").read_text().splitlines()
        assert names == [NAMES[i] for i in cols]
    total = 0
    for split in SPLITS:
        files = read_split(reference_run, split)
        rows = [int(i) for i in (inputs / "data" / f"{split}_indices.txt").read_text().split()]
        headers = [f"intron{r}" for r in rows] + [f"intron{r}_r" for r in rows]  # labels 0 and 1
        assert files["headers"] == headers
        n = len(headers)
        total += n
        labels = np.concatenate([table["label"].to_numpy()[rows]] * 2)
        for fset, width in (("ALL", 10), ("TF", 4), ("HM", 4)):
            assert files[fset].dtype == np.float32 and files[fset].shape == (n, width)
            assert files[f"target_{fset}"].dtype == np.int64
            np.testing.assert_array_equal(files[f"target_{fset}"], labels)
        np.testing.assert_array_equal(files["TF"], files["ALL"][:, TF])
        np.testing.assert_array_equal(files["HM"], files["ALL"][:, HM])
        # independent path: strings -> (reverse complement) -> centred one-hot -> Sei
        sequences = [table["sequence"][r] for r in rows]
        sequences += [reverse_complement(s) for s in sequences]
        with torch.inference_mode():
            expected = model(torch.from_numpy(one_hot_encode(sequences, LENGTH))).numpy()
        np.testing.assert_allclose(files["ALL"], expected, rtol=1e-5, atol=1e-6)
        marker = json.loads((reference_run / MARKER.format(split=split)).read_text())
        assert marker["n_rows"] == n and marker["sequence_length"] == LENGTH
    assert total == 80
    assert not (reference_run / ".partial").exists()


def test_rerun_skips_complete_splits_and_redoes_an_interrupted_one(inputs, reference_run, tmp_path,
                                                                   monkeypatch):
    result = tmp_path / "features"
    config = make_config(inputs, result)
    original_write = SplitWriter.write
    calls = {"n": 0}

    def failing_write(self, start, outputs):
        if self.split == "valid":
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt  # the user stops the run in the middle of a split
        original_write(self, start, outputs)

    monkeypatch.setattr(SplitWriter, "write", failing_write)
    with pytest.raises(KeyboardInterrupt):
        run_preprocess(config, progress=False)
    monkeypatch.setattr(SplitWriter, "write", original_write)
    assert (result / MARKER.format(split="train")).is_file()
    assert not (result / MARKER.format(split="valid")).exists()
    assert not (result / "data_ALL_valid.npy").exists()  # an interrupted split never looks done
    train_time = (result / "data_ALL_train.npy").stat().st_mtime_ns

    assert run_preprocess(config, progress=False) == {"train": "skipped", "valid": "written",
                                                      "test": "written"}
    assert (result / "data_ALL_train.npy").stat().st_mtime_ns == train_time
    for split in SPLITS:
        ours, reference = read_split(result, split), read_split(reference_run, split)
        for key in reference:
            np.testing.assert_array_equal(ours[key], reference[key])
    assert run_preprocess(config, progress=False) == {s: "skipped" for s in SPLITS}

    # a damaged file (e.g. deleted by hand) is made again
    (result / "data_HM_test.npy").unlink()
    assert run_preprocess(config, progress=False)["test"] == "written"
    np.testing.assert_array_equal(np.load(result / "data_HM_test.npy"),
                                  read_split(reference_run, "test")["HM"])


def test_other_settings_or_foreign_files_are_refused_and_kept(inputs, reference_run, tmp_path):
    with pytest.raises(InputError, match="sequence_length: 96 there, 128 now"):
        run_preprocess(make_config(inputs, reference_run, sequence_length=128), progress=False)
    assert json.loads((reference_run / MARKER.format(split="train")).read_text())[
        "sequence_length"] == LENGTH
    torch.manual_seed(9)  # same architecture and path layout, other weights
    write_official_checkpoint(Sei((4, 6, 8), n_targets=len(NAMES)), tmp_path / "other.pth")
    with pytest.raises(InputError, match="sei_sha256"):
        run_preprocess(make_config(inputs, reference_run, sei_path=str(tmp_path / "other.pth")),
                       progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    np.save(foreign / "data_ALL_train.npy", np.ones((2, 2), dtype=np.float32))
    with pytest.raises(InputError, match="no sei_features_train.json"):
        run_preprocess(make_config(inputs, foreign), progress=False)
    np.testing.assert_array_equal(np.load(foreign / "data_ALL_train.npy"), np.ones((2, 2)))


def test_rows_written_by_several_shards_make_one_coherent_file(inputs, reference_run, tmp_path):
    config = make_config(inputs, tmp_path, batch_size=3)
    model = load_sei(config.sei_path)
    data = prepare(config, model.n_targets)
    split, rows = "train", data.splits["train"]
    SplitWriter.create(tmp_path, split, rows, data.columns)  # "rank 0" lays out the files
    for rank in (1, 0):  # each "process" attaches and fills its own rows, in any order
        writer = SplitWriter.open(tmp_path, split, len(rows.labels), data.columns)
        extract_rows(model, data, split, writer, config, torch.device("cpu"),
                     row_range=shard_range(len(rows.labels), rank, 2), progress=False)
    writer.finalize({"note": "sharded"})
    ours, reference = read_split(tmp_path, split), read_split(reference_run, split)
    assert ours.pop("headers") == reference.pop("headers")
    for key in reference:  # batches of 3 instead of 7: equal up to float rounding
        np.testing.assert_allclose(ours[key], reference[key], rtol=1e-6, atol=1e-7)
    assert [shard_range(10, r, 3) for r in range(3)] == [(0, 4), (4, 7), (7, 10)]


def test_script_errors_name_the_problem(inputs, tmp_path, capsys):
    base = ["--json", str(inputs / "pre.json"), "--result", str(tmp_path / "out"), "--no-progress"]
    cases = [(["--length", "10"], "--length 10: Input should be greater than or equal to 32"),
             (["--device", "tpu"], "--device tpu"),
             (["--target-names", str(tmp_path / "none.names")], "sei-framework"),
             (["--weights", str(tmp_path / "none.pth")], "Zenodo record 4906996")]
    for flags, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            script.main(base + flags)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    (tmp_path / "short.names").write_text("\n".join(NAMES[:9]) + "\n")
    with pytest.raises(SystemExit):
        script.main(base + ["--target-names", str(tmp_path / "short.names")])
    assert "names 9 outputs but the Sei model has 10" in capsys.readouterr().err
    assert not (tmp_path / "out" / "data_ALL_train.npy").exists()


def test_demo_sei_is_in_the_official_format(tmp_path):
    # a small training set: src.demo.sei's own tests check what the training gives
    script.main(["--make-demo-sei", str(tmp_path), "--length", "700", "--demo-sei-sequences", "200"])
    state = torch.load(tmp_path / "sei.pth", weights_only=True)
    assert all(key.startswith("module.model.") for key in state)
    model = load_sei(tmp_path / "sei.pth")
    names = (tmp_path / "target.names").read_text().splitlines()
    assert len(names) == model.n_targets and all(name.count("|") == 2 for name in names)
    with pytest.raises(SystemExit):  # never overwritten
        script.main(["--make-demo-sei", str(tmp_path)])


# Peak RSS from VmHWM: ru_maxrss would start from the parent's (pytest's) peak, carried over
# fork + exec, and could hide the child's own growth.
MEMORY_PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from src.config import PreprocessConfig
    from src.features.extract import run_preprocess
    for folder in sys.argv[2:]:  # the small dataset first, then the large one
        root = Path(folder)
        run_preprocess(PreprocessConfig(
            data_path=str(root), result_path=str(root / "out"), sei_path=str(root / "sei.pth"),
            target_names=str(root / "target.names"), sequence_length=64, batch_size=256,
            device="cpu"), progress=False)
        status = Path("/proc/self/status").read_text().splitlines()
        print(next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")), flush=True)
""")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_number_of_sequences(tmp_path):
    """Peak RSS of one process after the features of 800 and then of 8,000 sequences."""
    from src.demo.sei import demo_target_names

    n_targets = 1000
    torch.manual_seed(0)
    sizes = (800, 8000)
    for n in sizes:
        folder = tmp_path / f"n{n}"
        write_dataset(folder, random_sequences(n, 64, seed=n), [i % 2 for i in range(n)])
        write_official_checkpoint(Sei((4, 4, 8), n_targets=n_targets), folder / "sei.pth")
        (folder / "target.names").write_text("\n".join(demo_target_names(n_targets)) + "\n")
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(ROOT),
                           *(str(tmp_path / f"n{n}") for n in sizes)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    peak_small, peak_large = (int(v) * 1024 for v in done.stdout.split())  # VmHWM: KiB
    output = {n: sum(p.stat().st_size for p in (tmp_path / f"n{n}" / "out").glob("data_*.npy"))
              for n in sizes}
    grown = output[8000] - output[800]
    # ten times the rows (each with the reverse complement of label 1): about 82 MB more output
    assert grown > 75 * 2**20
    # holding the outputs in memory would raise the peak by `grown` bytes; writing them through
    # short-lived memory maps raises it by little more than the bigger input table
    assert peak_large - peak_small < 0.15 * grown, (peak_small, peak_large, output)
