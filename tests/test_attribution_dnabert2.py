"""Attribute.py on a DNABERT-2 run: token Integrated Gradients spread to the bases, then the
windows, motif scan and tables of the CNNs (src/interpret/tokens.py).

* `TokenAttribution` against a direct computation: tokens of each sequence found here, IG on
  them (`token_integrated_gradients`, itself checked against a hand-written Riemann sum in
  tests/test_dnabert2_model.py) and each token's score divided over its bases by hand.
* End to end on the demo data: a tiny native DNABERT-2 trained here finds the planted motifs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import random_sequences

import Attribute
from src.config import DNABert2Config, config_to_dict
from src.data.encoding import CODE_TO_ONE_HOT, encode_codes
from src.data.tokens import build_tokenized_datasets, load_tokenizer, tokenizer_files
from src.demo.dnabert2 import make_tiny_model, make_tiny_model_for_config
from src.interpret.tokens import (
    TokenAttribution,
    decode_codes,
    token_integrated_gradients,
)
from src.models.dnabert2 import load_snapshot
from src.train.checkpoints import save_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", random_sequences(
        200, 100, seed=3), vocab_size=64, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32)


def test_token_attribution_places_each_token_score_on_its_bases(tiny):
    tokenizer = load_tokenizer(tiny)
    torch.manual_seed(0)
    model, _ = load_snapshot(tiny)
    sequences = [s for s in random_sequences(3, 60, seed=8)]
    sequences = [sequences[0], sequences[1][:37], "ACGTN" + sequences[2][:20].lower()]
    codes = encode_codes(sequences, 64)  # centred in 64 columns
    assert decode_codes(codes) == [s.upper() for s in sequences]
    targets = np.array([1, 0, 1])
    methods = TokenAttribution(tokenizer, max_length=20)  # the first two are cut at 20 tokens
    result = methods.attribute(model, codes, targets, torch.device("cpu"), steps=8,
                               batch_size=16)  # two sequences per call
    assert result.attributions.shape == (3, 4, 64)
    vocab = {i: t for t, i in tokenizer.get_vocab().items()}
    covered = []
    for row, sequence in enumerate(sequences):
        upper = sequence.upper()
        ids = tokenizer(upper, truncation=True, max_length=20)["input_ids"]
        scores, delta, change = token_integrated_gradients(
            model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long),
            int(targets[row]), 8, baseline_token=tokenizer.pad_token_id,
            keep_tokens=(tokenizer.cls_token_id, tokenizer.sep_token_id))
        start = (64 - len(sequence)) // 2
        expected = np.zeros(64)
        position = start
        for token, score in zip(ids[1:-1], scores[0, 1:-1].tolist()):
            piece = vocab[token]
            width = 1 if piece == "[UNK]" else len(piece)
            assert piece == "[UNK]" or upper[position - start:position - start + width] == piece
            expected[position:position + width] = score / width
            position += width
        covered.append((start, position))
        per_base = result.attributions[row].sum(axis=0)
        np.testing.assert_allclose(per_base, expected, atol=1e-6)
        # on the observed base's one-hot entries (N shares its score over A, C, G, T)
        observed = CODE_TO_ONE_HOT[codes[row]].T
        np.testing.assert_allclose(result.attributions[row], observed * per_base, atol=1e-7)
        assert result.delta[row] == pytest.approx(float(delta[0]), abs=1e-5)
        assert result.change[row] == pytest.approx(float(change[0]), abs=1e-5)
    # truncated: the bases after the 18th token get nothing
    start, end = covered[0]
    assert end < start + 60 and (result.attributions[0][:, end:] == 0).all()
    assert (result.attributions[0][:, start:end].sum(axis=0) != 0).all()
    probabilities = methods.predict(model, codes, torch.device("cpu"), batch_size=2)
    with torch.no_grad():
        model.eval()
        for row, sequence in enumerate(sequences):
            ids = tokenizer(sequence.upper(), truncation=True, max_length=20)["input_ids"]
            expected = model(torch.tensor([ids])).softmax(-1)[0].double().numpy()
            np.testing.assert_allclose(probabilities[row], expected, atol=1e-6)


@pytest.fixture(scope="module")
def dnabert2_run(demo_dir, tmp_path_factory) -> Path:
    """A tiny native DNABERT-2 fine-tuned for 3 epochs on the demo data (class-weighted, so that
    both classes have confident sequences), saved as DNABert2.py saves a run's best.pt."""
    root = tmp_path_factory.mktemp("dnabert2_run")
    config = DNABert2Config(data_path=str(demo_dir), model_name_or_path=str(root / "tiny"),
                            results_path=str(root / "results"), max_length=96, seed=3)
    make_tiny_model_for_config(config, root / "tiny")
    tokenizer = load_tokenizer(root / "tiny")
    train = build_tokenized_datasets(config, tokenizer, ("train",))["train"]
    torch.manual_seed(0)
    model, _ = load_snapshot(root / "tiny")
    ids, mask = train.inputs["input_ids"].long(), train.inputs["attention_mask"]
    labels = torch.from_numpy(train.labels)
    weight = torch.tensor([1.0, float((labels == 0).sum() / (labels == 1).sum())])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(3):
        order = torch.randperm(len(labels))
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                model(ids[batch], attention_mask=mask[batch]), labels[batch], weight)
            loss.backward()
            optimizer.step()
    run = root / "DNABERT2_test"
    run.mkdir()
    save_checkpoint(run / "best.pt", model.eval(), config_to_dict(config),
                    {"tokenizer_files": tokenizer_files(tokenizer), "max_length": 96,
                     "model_name_or_path": config.model_name_or_path, "load": "native"})
    shutil.rmtree(root / "tiny")  # Attribute.py needs the checkpoint only
    return run


@pytest.mark.slow
def test_attribute_on_dnabert2_finds_the_planted_motifs(dnabert2_run, demo_dir, tmp_path):
    run = Path(shutil.copytree(dnabert2_run, tmp_path / dnabert2_run.name))
    settings = tmp_path / "Attribute.json"
    settings.write_text(json.dumps({"n_logos": 1, "top_n": 5, "device": "cpu"}))
    try:
        Attribute.main(["--json", str(settings), "-m", str(run), "-i", "-b", "-d",
                        str(demo_dir / "planted_motifs.meme"), "-w", "24", "-p", "0.5",
                        "--steps", "32", "--no-progress"])
    except SystemExit as stop:
        assert stop.code == 0
    out = run / "IG"
    for name in ("windows.csv", "attributions.npz", "integration.json", "nsites.txt",
                 "enrichment.csv", "motif_hits.csv", "top_tfs.png", "config.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "integration.json").read_text())
    assert summary["model_name"] == "DNABERT2" and "token embeddings" in summary["attribution"]
    counts = summary["counts"]
    assert counts["IR"]["considered"] + counts["non-IR"]["considered"] == 480  # valid+test x 2
    assert counts["IR"]["windows"] > 0 and counts["non-IR"]["windows"] > 0
    assert summary["convergence_delta"]["median_relative"] < 0.05
    windows = pd.read_csv(out / "windows.csv")
    # 24 bp, or shorter when the study's placement cuts a window at the 3' end
    lengths = windows["sequence"].str.len()
    assert lengths.between(1, 24).all() and (lengths == 24).mean() > 0.9
    assert (windows["probability"] > 0.5).all()
    # the windows are the data's own bases, as the CNNs' are
    table = pd.read_csv(demo_dir / "final_data.csv").set_index("header")
    plain = windows[~windows["reverse_complement"]].head(20)
    for row in plain.itertuples():
        assert table.loc[row.header, "sequence"][row.start:row.end].upper() == row.sequence
    ranked = pd.read_csv(out / "enrichment.csv")
    assert set(ranked["tf"].head(3)) == {"ZNF274", "REST", "ZNF143"}
    assert set(ranked["tf"].tail(3)) == {"TP53", "SRF", "HNF4A"}
    # the full maps are not saved: a token model has no per-base gradients for -s
    info = json.loads((out / "maps.json").read_text())
    assert info["per_base"] is False and not (out / "maps_ig.npy").exists()


@pytest.mark.slow
def test_denovo_on_a_token_model_is_refused_before_integrated_gradients(dnabert2_run, tmp_path,
                                                                         capsys):
    run = Path(shutil.copytree(dnabert2_run, tmp_path / dnabert2_run.name))
    with pytest.raises(SystemExit) as stop:
        Attribute.main(["-m", str(run), "-i", "-s", "--device", "cpu", "--no-progress"])
    assert stop.value.code == 2
    assert "leave out -s for a token model" in capsys.readouterr().err
    assert not (run / "IG").exists()  # refused before anything was written
