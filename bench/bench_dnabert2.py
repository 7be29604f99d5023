"""Benchmark: native DNABERT-2 (src/models/dnabert2.py) vs the official remote code.

Both models get the same weights (the native model's seeded initialisation, copied by name into
the official one) and the same batch: `--batch` sequences of up to `--tokens` tokens, real
lengths drawn from [0.75, 1] x tokens, padded with [PAD] (so the official code's unpadding has
something to skip). Measured:

* forward: eval mode, no gradients, the logits;
* training step: train mode (dropout on), forward, cross-entropy, backward, SGD step;
* time: the median of `--repeats` calls after a warm-up call, both implementations in one
  process with their calls alternating, so that the load of a shared machine falls on both
  (the ratio of the fastest calls is printed too: on a busy machine it is the steadier one);
* peak memory of a warm-up call and one more, above what the process held before them, each
  implementation alone in a fresh process: on the CPU the peak resident set (Linux VmHWM, reset
  before the calls), on CUDA `torch.cuda.max_memory_allocated`.

The official code (`bert_layers.py`, `bert_padding.py` of a DNABERT-2 snapshot; it needs
`einops`, which the project itself does not: `pip install einops`) is read from
`--remote-code DIR` (this benchmark is the only place that runs it), imported as a package with its triton flash-attention kernel
switched off (it fails on the CPU and with current triton; the code then takes its PyTorch
attention path) and built with transformers' own BertConfig. Without `--remote-code` the native
model is measured alone, and the output says so. On CUDA every case runs in float32 and in
bfloat16 autocast.

    python bench/bench_dnabert2.py [--remote-code DIR] [--batch 8] [--tokens 128]
        [--repeats 3] [--threads N] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.models.dnabert2 import (
    DNABert2ForSequenceClassification,  # noqa: E402
    read_json,  # noqa: E402
)
from src.models.dnabert2 import DNABert2ModelConfig as DNABert2Config  # noqa: E402

REFERENCE_CONFIG = ROOT.parent / "shared" / "reference" / "dnabert2" / "config.json"
CLS, SEP, PAD = 1, 2, 3  # DNABERT-2's special token ids
SEED = 0


# ---------------------------------------------------------------------------------------------
# The two models


def model_config(args) -> dict:
    """config.json of the remote-code snapshot, else the reference copy, else the defaults."""
    for path in ([Path(args.remote_code) / "config.json"] if args.remote_code else []) + \
            [REFERENCE_CONFIG]:
        if path.is_file():
            return read_json(path, "model config")
    return DNABert2Config().to_dict()


def native_model(config: dict) -> DNABert2ForSequenceClassification:
    torch.manual_seed(SEED)
    return DNABert2ForSequenceClassification(DNABert2Config.from_dict(config, num_labels=2))


def remote_model(folder: Path, config: dict, state: dict) -> torch.nn.Module:
    """The official BertForSequenceClassification of a snapshot's bert_layers.py, with `state`."""
    from transformers import BertConfig

    for name in ("bert_layers.py", "bert_padding.py"):
        if not (folder / name).is_file():
            sys.exit(f"--remote-code {folder}: {name} not found (a DNABERT-2 snapshot folder "
                     f"holds bert_layers.py, bert_padding.py, configuration_bert.py)")
    package = types.ModuleType("dnabert2_remote_code")
    package.__path__ = [str(folder)]
    sys.modules[package.__name__] = package
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = importlib.import_module(f"{package.__name__}.bert_layers")
        code.flash_attn_qkvpacked_func = None  # its PyTorch attention path
        values = {k: v for k, v in config.items() if k not in ("auto_map", "_name_or_path")}
        hf_config = BertConfig.from_dict(values, num_labels=2)
        hf_config.alibi_starting_size = config.get("alibi_starting_size", 512)
        model = code.BertForSequenceClassification(hf_config)
    model.load_state_dict(state, strict=True)
    return model


def batch(config: dict, n: int, tokens: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(SEED)
    ids = np.full((n, tokens), PAD, dtype=np.int64)
    mask = np.zeros((n, tokens), dtype=np.int64)
    lengths = rng.integers(int(0.75 * tokens), tokens + 1, size=n)
    lengths[0] = tokens
    for i, length in enumerate(lengths):
        ids[i, :length] = [CLS, *rng.integers(5, config.get("vocab_size", 4096),
                                              size=length - 2), SEP]
        mask[i, :length] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


# ---------------------------------------------------------------------------------------------
# Measurements (each in a subprocess)


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


class PeakMemory:
    """Peak memory of a block above what was in use before it, in MiB."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mib = float("nan")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device)
        else:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
            self.before = rss_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = rss_kib("VmHWM") * 1024
        self.peak_mib = (peak - self.before) / 2 ** 20


def build(args, impl: str, config: dict, device: torch.device) -> torch.nn.Module:
    model = native_model(config)
    if impl == "remote":
        state = {k: v.clone() for k, v in model.state_dict().items()}
        del model
        model = remote_model(Path(args.remote_code), config, state)
    return model.to(device)


def step_function(model: torch.nn.Module, impl: str, phase: str, precision: str,
                  ids: torch.Tensor, mask: torch.Tensor, device: torch.device):
    """A function doing one forward (eval, no grad) or one training step; returns the logits
    (forward) or the loss."""
    labels = torch.arange(len(ids), device=device) % 2
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)

    def logits():
        if impl == "native":
            return model(input_ids=ids, attention_mask=mask)
        return model(input_ids=ids, attention_mask=mask, return_dict=True).logits

    def autocast():
        return (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                else contextlib.nullcontext())

    def call():
        if phase == "forward":
            model.eval()
            with torch.no_grad(), autocast():
                return logits()
        model.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast():  # forward and loss only, never backward / step
            loss = torch.nn.functional.cross_entropy(logits().float(), labels)
        loss.backward()
        optimizer.step()
        return loss

    return call


def timed(call, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def worker(args) -> dict:
    """time:PHASE:PRECISION: every implementation in this process, calls alternating (so that
    the load of a shared machine falls on all alike). memory:IMPL:PHASE:PRECISION: the peak of
    a warm-up call and one more, one implementation alone in the process."""
    kind, *rest = args.worker.split(":")
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = model_config(args)
    ids, mask = batch(config, args.batch, args.tokens, device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "memory":
            impl, phase, precision = rest
            model = build(args, impl, config, device)
            call = step_function(model, impl, phase, precision, ids, mask, device)
            with PeakMemory(device) as memory:
                call()
                call()
            return {"peak_mib": memory.peak_mib}
        phase, precision = rest
        impls = ["native"] + (["remote"] if args.remote_code else [])
        calls, result = {}, {}
        for impl in impls:
            model = build(args, impl, config, device)
            calls[impl] = step_function(model, impl, phase, precision, ids, mask, device)
            first = calls[impl]()  # warm-up
            result[impl] = {"times": []}
            if phase == "forward":
                result[impl]["logits"] = first.float().cpu().tolist()
        for _ in range(args.repeats):
            for impl in impls:
                result[impl]["times"].append(timed(calls[impl], device))
        for impl in impls:
            result[impl]["seconds"] = statistics.median(result[impl]["times"])
        result["threads"] = torch.get_num_threads()
        return result


# ---------------------------------------------------------------------------------------------
# Driver


def run_worker(args, spec: str) -> dict:
    command = [sys.executable, __file__, "--worker", spec,
               "--batch", str(args.batch), "--tokens", str(args.tokens),
               "--repeats", str(args.repeats), "--device", args.device,
               "--threads", str(args.threads)]
    if args.remote_code:
        command += ["--remote-code", str(args.remote_code)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--remote-code", type=Path, default=None,
                        help="DNABERT-2 snapshot folder with bert_layers.py (the official code)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128, help="padded tokens per sequence")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.worker:
        print(json.dumps(worker(args)))
        return

    device = torch.device(args.device)
    precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    impls = ["native"] + (["remote"] if args.remote_code else [])
    names = {"native": "native", "remote": "official"}
    print(f"DNABERT-2, batch {args.batch} x {args.tokens} tokens (real lengths 75-100%), "
          f"{device.type}" + (f" ({torch.cuda.get_device_name(device)})"
                              if device.type == "cuda" else
                              f", {args.threads or torch.get_num_threads()} threads") +
          f", torch {torch.__version__}; time: median of {args.repeats} calls after a warm-up, "
          f"implementations alternating; memory: peak above the model and batch, each alone")
    if not args.remote_code:
        print("no --remote-code folder: the official code is not measured, the native model "
              "only")
    if device.type == "cuda" and args.remote_code:
        print("official code on CUDA: its triton kernel is switched off (it fails with current "
              "triton), so it runs its PyTorch attention path")
    results = {}
    for precision in precisions:
        for phase in ("forward", "train"):
            timing = run_worker(args, f"time:{phase}:{precision}")
            for impl in impls:
                r = results[impl, phase, precision] = timing[impl]
                r.update(run_worker(args, f"memory:{impl}:{phase}:{precision}"))
                print(f"  {names[impl]:8s} {phase:7s} {precision}: "
                      f"{r['seconds'] * 1000:9.1f} ms "
                      f"({', '.join(f'{t * 1000:.0f}' for t in r['times'])})  "
                      f"peak +{r['peak_mib']:8.1f} MiB")
    print()
    for precision in precisions:
        if args.remote_code:
            native = np.array(results["native", "forward", precision]["logits"])
            remote = np.array(results["remote", "forward", precision]["logits"])
            print(f"{precision}: logits max |native - official| = "
                  f"{np.abs(native - remote).max():.2e} (same weights, eval)")
            for phase in ("forward", "train"):
                n, o = results["native", phase, precision], results["remote", phase, precision]
                print(f"{precision} {phase}: official / native time = "
                      f"{o['seconds'] / n['seconds']:.2f}x (fastest calls: "
                      f"{min(o['times']) / min(n['times']):.2f}x), peak memory official / "
                      f"native = {o['peak_mib']:.0f} / {n['peak_mib']:.0f} MiB")
    if "bf16" in precisions:
        for impl in impls:
            for phase in ("forward", "train"):
                full, half = results[impl, phase, "fp32"], results[impl, phase, "bf16"]
                print(f"{names[impl]} {phase}: fp32 / bf16 time = "
                      f"{full['seconds'] / half['seconds']:.2f}x, peak memory "
                      f"{full['peak_mib']:.0f} / {half['peak_mib']:.0f} MiB")
        for impl in impls:
            full = np.array(results[impl, "forward", "fp32"]["logits"])
            half = np.array(results[impl, "forward", "bf16"]["logits"])
            print(f"{names[impl]}: logits max |fp32 - bf16| = {np.abs(full - half).max():.2e}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
