"""Shared fixtures: tiny datasets in the real format, written by the tests themselves."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One thread per test process: the models here are tiny, and on a busy 2-core machine two
# spinning threads per process make small steps many times slower.
torch.set_num_threads(1)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REFERENCE = ROOT.parent / "shared" / "reference"  # optional: tests that need it skip without it
DATA = ROOT / "tests" / "data"  # small reference files kept with the tests


def write_dataset(folder: Path, sequences, labels, headers=None) -> Path:
    """Write final_data.csv (and nothing else) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    headers = headers if headers is not None else [f"seq{i}" for i in range(len(sequences))]
    pd.DataFrame({"header": headers, "sequence": sequences, "label": labels}).to_csv(
        folder / "final_data.csv", index=False)
    return folder


def random_sequences(n: int, length: int, seed: int = 0, alphabet: str = "ACGT") -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list(alphabet))
    return ["".join(row) for row in letters[rng.integers(0, len(letters), size=(n, length))]]


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A small demo dataset (planted motifs), made once per test session."""
    from src.demo.data import DemoSettings, generate_demo

    out = tmp_path_factory.mktemp("demo")
    return generate_demo(out, DemoSettings(n_sequences=1200, length=300, seed=1))


# --- shared fixtures stay as they were --------------------------------------------------------

def _snapshot(path: Path) -> dict:
    """Every file under `path` with its size and modification time."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def _shared_paths(item) -> dict[str, Path]:
    """The module- or session-scoped fixtures of a test whose value is a file or folder."""
    shared = {}
    for name, value in getattr(item, "funcargs", {}).items():
        definitions = item._fixtureinfo.name2fixturedefs.get(name)
        if definitions and definitions[-1].scope in ("module", "session") \
                and isinstance(value, Path) and value.exists():
            shared[name] = value
    return shared


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """A test may read a fixture that other tests share, never change it: a test that writes
    into one fails here (copy it into tmp_path first)."""
    before = {name: _snapshot(path) for name, path in _shared_paths(item).items()}
    outcome = yield
    if outcome.excinfo is not None:
        return
    for name, path in _shared_paths(item).items():
        after = _snapshot(path)
        if after != before.get(name):
            changed = sorted(set(after.items()) ^ set(before.get(name, {}).items()))
            pytest.fail(f"the test changed the shared fixture {name!r} ({path}): "
                        f"{[entry[0] for entry in changed][:5]}", pytrace=False)
