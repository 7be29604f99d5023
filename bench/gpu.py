"""The GPU path measured in one command (`make bench-gpu`): throughput, memory and the fraction
of the GPU's bf16 peak of the study's heavy steps, fp32 against bf16.

    python bench/gpu.py                 # on a CUDA machine: measure, print, update bench/RESULTS.md
    python bench/gpu.py --no-write      # measure and print only

Measured, each with peak GPU memory, model FLOPs per item (counted from the layers by
`src.models.flops`, printed first, also without a GPU) and achieved TFLOP/s as a fraction of the
GPU's dense bf16 peak:

1. Sei feature extraction (Preprocess_data_to_numpy.py): the full Sei (21,907 outputs) on 4,000
   bp, inference, sequences/s in fp32 and under bf16 autocast, and the largest difference bf16
   makes to the outputs (probabilities) of the same inputs.
2. FSei training (FSei.py): full-width trunk + head on 600 bp, forward + cross-entropy +
   backward + AdamW step, samples/s in fp32, bf16, and bf16 with the trunk frozen (-p -f).
3. Integrated Gradients on FSei (Attribute.py -i): `src.interpret.gradients.attribute_sequences`
   with all steps of many sequences per pass, the pass sized to the free GPU memory, sequences/s
   in fp32 and bf16, with the completeness error of each against fp32 forward passes.
4. DNABERT-2 fine-tuning (DNABert2.py): the registered "DNABERT2" model built from a config dict
   (DNABERT-2-117M's, or --dnabert2-config PATH to a snapshot's config.json), SDPA attention,
   samples/s in fp32 and bf16; skipped with a line saying why when the model cannot be built.

Weights are random (speed does not depend on them) unless --sei-path names the official sei.pth,
which makes the bf16 output difference of part 1 that of the real model. Without CUDA the script
prints the FLOP counts and "no CUDA device: nothing measured", and exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- bench/gpu.py: begin -->", "<!-- bench/gpu.py: end -->"
SECTION_TITLE = "## GPU: the heavy steps, fp32 and bf16 (`bench/gpu.py`)"

# Dense bf16 tensor-core peak, TFLOP/s (vendor data sheets, without sparsity); first match wins.
BF16_PEAK_TFLOPS = (("H200", 989.0), ("GH200", 989.0), ("H100 PCIe", 756.0), ("H100 NVL", 835.0),
                    ("H100", 989.0), ("H800", 989.0), ("B200", 2250.0), ("A100", 312.0),
                    ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0),
                    ("A10G", 70.0), ("A10", 125.0), ("RTX 6000 Ada", 364.0))

# DNABERT-2-117M's config.json (the fields the model uses)
DNABERT2_117M = {"vocab_size": 4096, "hidden_size": 768, "num_hidden_layers": 12,
                 "num_attention_heads": 12, "intermediate_size": 3072, "type_vocab_size": 2,
                 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.0,
                 "layer_norm_eps": 1e-12, "num_labels": 2, "model_type": "bert",
                 "max_position_embeddings": 512, "hidden_act": "gelu"}


def bf16_peak_tflops(name: str) -> float | None:
    for key, value in BF16_PEAK_TFLOPS:
        if key.lower() in name.lower():
            return value
    return None


@dataclass
class Row:
    """One measurement: `items` per second of `job` in `precision`."""

    job: str
    precision: str
    batch: int
    items_per_s: float
    peak_gib: float
    gflop_per_item: float | None
    note: str = ""

    def tflops(self) -> float | None:
        if self.gflop_per_item is None:
            return None
        return self.gflop_per_item * self.items_per_s / 1000

    def fraction(self, peak: float | None) -> float | None:
        achieved = self.tflops()
        return achieved / peak if achieved is not None and peak else None


# ----------------------------------------------------------------------------------- FLOPs

def dnabert2_model(config: dict, device=None):
    """The registered DNABERT2 model with two classes, or (None, why not)."""
    import torch

    from src.models import build_model

    try:
        with torch.device(device or "cpu"):
            model = build_model("DNABERT2", {"config": dict(config)})
    except Exception as err:  # noqa: BLE001 - any failure: report and skip the part
        return None, f"{type(err).__name__}: {err}"
    for module in model.modules():  # the native model: fused attention (SDPA)
        if hasattr(module, "set_attention_implementation"):
            module.set_attention_implementation("sdpa")
            break
    return model, ""


def token_inputs(batch: int, length: int, vocab: int, device) -> dict:
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (batch, length), generator=generator)
    ids[:, 0], ids[:, -1] = 1, 2  # [CLS] ... [SEP]
    return {"input_ids": ids.to(device),
            "attention_mask": torch.ones(batch, length, dtype=torch.long, device=device)}


def flop_table(args) -> tuple[dict, list[str]]:
    """Forward GFLOP per item of every model (meta device: no arithmetic done), per step kind."""
    import torch

    from src.models.flops import count_macs, step_flops
    from src.models.sei import FSei, Sei

    meta = torch.device("meta")
    with meta:
        sei = Sei()
        fsei = FSei()
    sei_fwd = count_macs(sei, torch.zeros(1, 4, args.sei_length, device=meta)).flops
    fsei_count = count_macs(fsei, torch.zeros(1, 4, args.fsei_length, device=meta))
    fsei_fwd = fsei_count.flops
    head = 2 * (fsei_count.within("spline") + fsei_count.within("head"))
    flops = {"sei_inference": sei_fwd, "fsei_forward": fsei_fwd,
             "fsei_training": step_flops(fsei_fwd, "training"),
             "fsei_frozen": step_flops(fsei_fwd, "frozen", head),
             # every path point, plus the fp32 forward passes at the input and the baseline
             "ig_sequence": args.ig_steps * step_flops(fsei_fwd, "integrated_gradients")
             + 2 * fsei_fwd}
    lines = ["| model, input | forward GFLOP per item | step | GFLOP per item and step |",
             "| --- | ---: | --- | ---: |",
             f"| Sei (21,907 outputs), {args.sei_length:,} bp | {sei_fwd / 1e9:.2f} | "
             f"feature extraction (forward) | {sei_fwd / 1e9:.2f} |",
             f"| FSei (480-640-960 trunk, head 520), {args.fsei_length} bp | {fsei_fwd / 1e9:.2f} "
             f"| training (3 x forward) | {flops['fsei_training'] / 1e9:.2f} |",
             f"| | | training, trunk frozen (forward + 2 x head {head / 1e9:.3f}) | "
             f"{flops['fsei_frozen'] / 1e9:.2f} |",
             f"| | | Integrated Gradients, {args.ig_steps} steps (2 x forward each) + 2 "
             f"forwards | {flops['ig_sequence'] / 1e9:.1f} |"]
    config = read_dnabert2_config(args.dnabert2_config)
    fwd, why = dnabert2_forward_flops(config, args.dnabert2_length)
    if fwd is None:
        lines.append(f"| DNABERT-2 | not counted: {why} | | |")
    else:
        flops["dnabert2_training"] = step_flops(fwd, "training")
        lines.append(f"| DNABERT-2 ({config['num_hidden_layers']} layers, hidden "
                     f"{config['hidden_size']}), {args.dnabert2_length} tokens | "
                     f"{fwd / 1e9:.2f} | fine-tuning (3 x forward) | "
                     f"{flops['dnabert2_training'] / 1e9:.2f} |")
    return flops, lines


def dnabert2_forward_flops(config: dict, length: int) -> tuple[int | None, str]:
    """Forward FLOPs of one sequence of `length` tokens: counted on the meta device, or on the
    CPU when the model needs real values (e.g. `.item()` in its forward); (None, why) when the
    model cannot be built or run."""
    from src.models.flops import count_macs

    why = ""
    for device in ("meta", "cpu"):
        model, why = dnabert2_model(config, device)
        if model is None:
            return None, f"the model cannot be built ({why})"
        try:
            inputs = token_inputs(1, length, config["vocab_size"], device)
            return count_macs(model.eval(), **inputs).flops, ""
        except Exception as err:  # noqa: BLE001 - try the next device, then report
            why = f"its forward pass failed ({type(err).__name__}: {err})"
        finally:
            del model
    return None, why


def read_dnabert2_config(path: str | None) -> dict:
    if path is None:
        return dict(DNABERT2_117M)
    config = json.loads(Path(path).read_text())
    config["num_labels"] = 2
    return config


# ------------------------------------------------------------------------------- measuring

def measure(step, device, min_seconds: float, warmup: int = 2) -> tuple[float, float]:
    """Seconds per call of `step()` (after `warmup` calls, over at least `min_seconds`) and the
    peak GPU memory (GiB) of those calls."""
    import torch

    for _ in range(warmup):
        step()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    calls, started = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds and calls >= 3:
            break
    return elapsed / calls, torch.cuda.max_memory_allocated(device) / 2**30


def random_init(model, device):
    """Move a meta-device model made of layers with `reset_parameters` (the full Sei: Conv1d and
    Linear, 890 M weights) to `device` and initialise it there (fast on a GPU)."""
    model = model.to_empty(device=device)
    covered = set()
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
            covered |= {id(p) for p in module.parameters(recurse=False)}
            covered |= {id(b) for b in module.buffers(recurse=False)}
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()]
            if id(t) not in covered]
    if left:
        raise ValueError(f"random_init cannot initialise {left[:3]}: build this model on the "
                         f"CPU instead")
    return model


def autocast(device, precision: str):
    """The training loop's bf16 autocast (this script measures on CUDA only)."""
    from src.device import bf16_autocast

    return bf16_autocast(device, precision == "bf16")


def one_hot(batch: int, length: int, device, seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (batch, length), generator=generator)
    return torch.nn.functional.one_hot(codes, 4).transpose(1, 2).float().to(device)


def bench_sei(args, device, flops) -> tuple[list[Row], str]:
    import torch

    from src.models.sei import Sei, load_sei

    if args.sei_path and Path(args.sei_path).is_file():
        model, source = load_sei(args.sei_path).to(device), f"weights of {args.sei_path}"
    else:
        with torch.device("meta"):
            model = Sei()
        model, source = random_init(model, device), "random weights"
    model.eval()
    x = one_hot(args.sei_batch, args.sei_length, device)
    rows, outputs = [], {}
    for precision in ("fp32", "bf16"):
        def step(model=model, precision=precision):
            with torch.inference_mode(), autocast(device, precision):
                return model(x)

        seconds, peak = measure(step, device, args.seconds)
        outputs[precision] = step().float()
        rows.append(Row("Sei feature extraction", precision, args.sei_batch,
                        args.sei_batch / seconds, peak, flops["sei_inference"] / 1e9))
    difference = float((outputs["bf16"] - outputs["fp32"]).abs().max())
    rows[1].note = f"largest |bf16 - fp32| of the outputs: {difference:.2e}"
    del model
    torch.cuda.empty_cache()
    return rows, (f"Sei: {source}; outputs are probabilities, largest |bf16 - fp32| over "
                  f"{args.sei_batch} x 21,907 outputs {difference:.2e}")


def train_step(model, optimizer, inputs, labels, device, precision):
    import torch

    from src.train.loop import model_forward

    def step():
        with autocast(device, precision):
            logits = model_forward(model, inputs)
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def bench_fsei(args, device, flops) -> list[Row]:
    import torch

    from src.models.sei import FSei

    rows = []
    x = one_hot(args.fsei_batch, args.fsei_length, device)
    labels = torch.randint(0, 2, (args.fsei_batch,), device=device)
    for precision, frozen in (("fp32", False), ("bf16", False), ("bf16", True)):
        torch.manual_seed(0)
        model = FSei(freeze_trunk=frozen).to(device).train()  # 27 M weights: the CPU is quick
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                      lr=1e-4)
        seconds, peak = measure(train_step(model, optimizer, x, labels, device, precision),
                                device, args.seconds)
        rows.append(Row("FSei training" + (", trunk frozen" if frozen else ""), precision,
                        args.fsei_batch, args.fsei_batch / seconds, peak,
                        flops["fsei_frozen" if frozen else "fsei_training"] / 1e9))
        del model, optimizer
        torch.cuda.empty_cache()
    return rows


def bench_ig(args, device, flops) -> list[Row]:
    import numpy as np
    import torch

    from src.interpret.gradients import attribute_sequences, relative_delta
    from src.models.sei import FSei

    torch.manual_seed(0)
    model = FSei().to(device).eval()
    rng = np.random.default_rng(0)
    codes = rng.integers(1, 5, size=(args.ig_sequences, args.fsei_length)).astype(np.uint8)
    targets = rng.integers(0, 2, size=args.ig_sequences)
    rows, results = [], {}
    for precision in ("fp32", "bf16"):
        # a first small call warms up the kernels; then the timed one
        attribute_sequences(model, codes[:8], targets[:8], device, args.ig_steps,
                            progress=False, precision=precision)
        torch.cuda.reset_peak_memory_stats(device)
        result = attribute_sequences(model, codes, targets, device, args.ig_steps,
                                     progress=False, precision=precision)
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        relative = relative_delta(result.delta, result.change)
        results[precision] = result
        rows.append(Row(f"Integrated Gradients on FSei ({args.ig_steps} steps)", precision,
                        result.inputs_per_pass, result.sequences_per_second, peak,
                        flops["ig_sequence"] / 1e9,
                        f"completeness error / logit change: median {np.median(relative):.1e}, "
                        f"max {relative.max():.1e}"))
    scale = float(np.abs(results["fp32"].attributions).max())
    change = float(np.abs(results["bf16"].attributions - results["fp32"].attributions).max())
    rows[1].note += f"; largest |bf16 - fp32| attribution {change / scale:.1e} of the largest"
    del model
    torch.cuda.empty_cache()
    return rows


def bench_dnabert2(args, device, flops) -> tuple[list[Row], str]:
    import torch

    config = read_dnabert2_config(args.dnabert2_config)
    if "dnabert2_training" not in flops:
        return [], "DNABERT-2: skipped, the model cannot be built from its config (see above)"
    inputs = token_inputs(args.dnabert2_batch, args.dnabert2_length, config["vocab_size"], device)
    labels = torch.randint(0, 2, (args.dnabert2_batch,), device=device)
    rows = []
    for precision in ("fp32", "bf16"):
        model, why = dnabert2_model(config, device)
        if model is None:
            return rows, f"DNABERT-2: skipped ({why})"
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
        seconds, peak = measure(train_step(model, optimizer, inputs, labels, device, precision),
                                device, args.seconds)
        rows.append(Row(f"DNABERT-2 fine-tuning ({args.dnabert2_length} tokens)", precision,
                        args.dnabert2_batch, args.dnabert2_batch / seconds, peak,
                        flops["dnabert2_training"] / 1e9))
        del model, optimizer
        torch.cuda.empty_cache()
    return rows, f"DNABERT-2: {type(dnabert2_model(config, 'meta')[0]).__name__}, SDPA attention"


# --------------------------------------------------------------------------------- report

def results_table(rows: list[Row], peak: float | None) -> list[str]:
    def number(value, digits):
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) \
            else f"{value:,.{digits}f}"

    lines = ["| step | precision | batch | items/s | peak GPU memory GiB | GFLOP per item | "
             "TFLOP/s | fraction of bf16 peak | note |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        fraction = row.fraction(peak)
        lines.append(f"| {row.job} | {row.precision} | {row.batch} | {number(row.items_per_s, 1)}"
                     f" | {number(row.peak_gib, 2)} | {number(row.gflop_per_item, 2)} | "
                     f"{number(row.tflops(), 1)} | "
                     f"{'' if fraction is None else f'{100 * fraction:.1f}%'} | {row.note} |")
    return lines


def write_section(path: Path, text: str) -> None:
    """Put `text` between the markers in `path` (appended as a new section the first time)."""
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    current = path.read_text() if path.is_file() else ""
    if BEGIN in current and END in current:
        pattern = re.escape(BEGIN) + r".*?" + re.escape(END)
        updated = re.sub(pattern, lambda _: block, current, count=1, flags=re.DOTALL)
    else:
        updated = current.rstrip() + f"\n\n{SECTION_TITLE}\n\n{block}\n"
    path.write_text(updated)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="bench/gpu.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--no-write", action="store_true",
                        help="print only; do not update bench/RESULTS.md")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file to update")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="least time each measurement runs (after 2 warm-up calls)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense bf16 peak (TFLOP/s), when its name is not known")
    parser.add_argument("--sei-path", default="sei.pth",
                        help="official Sei weights for part 1 (random weights when absent)")
    parser.add_argument("--sei-length", type=int, default=4000)
    parser.add_argument("--sei-batch", type=int, default=128)
    parser.add_argument("--fsei-length", type=int, default=600)
    parser.add_argument("--fsei-batch", type=int, default=512, help="json/FSei.json's")
    parser.add_argument("--ig-steps", type=int, default=50, help="json/Attribute.json's")
    parser.add_argument("--ig-sequences", type=int, default=512)
    parser.add_argument("--dnabert2-config", default=None, metavar="CONFIG_JSON",
                        help="a DNABERT-2 snapshot's config.json (default: DNABERT-2-117M's)")
    parser.add_argument("--dnabert2-length", type=int, default=150,
                        help="tokens per sequence (json/DNABert2.json's max_length)")
    parser.add_argument("--dnabert2-batch", type=int, default=64, help="json/DNABert2.json's")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    flops, flop_lines = flop_table(args)
    print("Model FLOPs (counted from the layers, src/models/flops.py):\n")
    print("\n".join(flop_lines))
    if not torch.cuda.is_available():
        print("\nno CUDA device: nothing measured (bench/gpu.py times the GPU path; run it on a "
              "machine where torch.cuda.is_available() is true)")
        return 0
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 rows are fp32
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(device)
    peak = args.peak_tflops or bf16_peak_tflops(name)
    machine = (f"{name} ({torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB"
               f"), bf16 peak {'unknown (give --peak-tflops)' if peak is None else f'{peak:g} TFLOP/s'}"
               f"; torch {torch.__version__}, CUDA {torch.version.cuda}, Python "
               f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}; TF32 off")
    print(f"\n{machine}\n")
    rows, notes = [], []
    for part in (bench_sei, bench_fsei, bench_ig, bench_dnabert2):
        result = part(args, device, flops)
        part_rows, note = result if isinstance(result, tuple) else (result, "")
        rows += part_rows
        if note:
            notes.append(note)
        print("\n".join(results_table(part_rows, peak)[2:]), flush=True)
    text = "\n".join([f"`python bench/gpu.py` on {machine}.", "",
                      *results_table(rows, peak), "", *(f"- {n}" for n in notes), "",
                      "Model FLOPs per item:", "", *flop_lines])
    print("\n" + text)
    if not args.no_write:
        write_section(args.out, text)
        print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
