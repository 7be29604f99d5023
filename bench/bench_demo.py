"""Time `make demo` step by step: wall time and CPU time (user + system of the step's process)
of every step of `Reproduce.py --config demo [--seeds N]`, as a Markdown table.

    python bench/bench_demo.py --clean            # from scratch (removes data/demo, results/demo)
    python bench/bench_demo.py --clean --seeds 3

The steps are those Reproduce.py runs, in the same order, each in its own process. CPU time is
the better figure on a shared machine: other jobs stretch the wall time of a step but not the CPU
time it needs; on an otherwise idle 2-core machine the wall time is about the CPU time divided by
the step's parallelism (1 to 2). The load average at the start of each step is printed with it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from src.demo.steps import demo_study  # noqa: E402
from src.pipeline.steps import run_steps, subprocess_runner  # noqa: E402


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_demo.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--json-dir", default="json/demo")
    parser.add_argument("--clean", action="store_true",
                        help="remove data/demo and results/demo first (the demo's own folders)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.clean:
        for folder in ("data/demo", "results/demo"):
            shutil.rmtree(folder, ignore_errors=True)
    steps, _ = demo_study(args.json_dir, args.seeds)  # what Reproduce.py --config demo runs
    rows = []
    current = {}

    def runner(command):
        current.update(started=time.perf_counter(), cpu=children_cpu_seconds(),
                       load=os.getloadavg()[0])
        code = subprocess_runner(command)
        rows.append((command[0], time.perf_counter() - current["started"],
                     children_cpu_seconds() - current["cpu"], current["load"]))
        return code

    names = []

    def log(message):
        print(message, flush=True)
        if message.lstrip().startswith("[") and ") python " in message:
            names.append(message.strip().split("]")[0][1:])

    started, cpu0 = time.perf_counter(), children_cpu_seconds()
    run_steps(steps, runner=runner, log=log)
    total_wall, total_cpu = time.perf_counter() - started, children_cpu_seconds() - cpu0
    print(f"\n`Reproduce.py --config demo --seeds {args.seeds}`, {os.cpu_count()} CPUs\n")
    print("| step | wall s | CPU s | load average at start |\n| --- | ---: | ---: | ---: |")
    for name, (_, wall, cpu, load) in zip(names, rows):
        print(f"| {name} | {wall:.0f} | {cpu:.0f} | {load:.1f} |")
    print(f"| **total** | **{total_wall:.0f}** | **{total_cpu:.0f}** | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
