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

REFERENCE = ROOT.parent / "shared" / "reference"


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
