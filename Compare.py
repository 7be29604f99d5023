"""Compare runs: the paper's ROC / precision-recall figure and a metrics table.

    python Compare.py results/FSei results/LR/ALL results/ConvNet --out results/comparison
"""

import argparse
from pathlib import Path

from src.cli import HelpFormatter, run_cli
from src.errors import InputError
from src.figures import plot_roc_pr
from src.metrics import comparison_table, to_markdown
from src.runs import atomic_write_text, newest_run, read_predictions, run_label

EXAMPLES = """examples:
  python Compare.py results/FSei results/ConvNet results/Basset --out results/comparison
  python Compare.py results/LR/ALL/LR_20250101-120000 results/LGBM/TF --labels "LR ALL" LightGBM
"""


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="Compare.py", formatter_class=HelpFormatter, epilog=EXAMPLES,
        description="Draw ROC and precision-recall curves of several runs side by side (AUROC / "
                    "AUPRC in the legend) from their predictions.csv, and write the metrics "
                    "table as CSV and Markdown, with the study's published numbers beside them.")
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a run folder, or a results folder (its newest evaluated run is used)")
    parser.add_argument("--labels", nargs="+", metavar="NAME",
                        help="legend names, one per RUN (default: the model of each run)")
    parser.add_argument("--out", default="results/comparison",
                        help="folder for comparison.png, comparison.csv and comparison.md")
    args = parser.parse_args(argv)
    run_cli(lambda: compare(args), single_process="Compare.py")


def compare(args):
    if args.labels and len(args.labels) != len(args.runs):
        raise InputError(f"--labels gives {len(args.labels)} names for {len(args.runs)} runs: "
                         f"give one name per run")
    folders = [newest_run(path) for path in args.runs]
    labels = args.labels or [run_label(folder) for folder in folders]
    if len(set(labels)) != len(labels):
        labels = [f"{label} [{folder.name}]" for label, folder in zip(labels, folders)]
    predictions = {}
    for label, folder in zip(labels, folders):
        predictions[label] = read_predictions(folder / "predictions.csv")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(predictions)
    table.insert(1, "run", [str(folder) for folder in folders])
    atomic_write_text(out / "comparison.csv", table.to_csv(index=False))
    atomic_write_text(out / "comparison.md", to_markdown(table.drop(columns=["run"])))
    plot_roc_pr(predictions, out / "comparison.png")
    print(to_markdown(table.drop(columns=["run", "n_positive"])))
    print(f"figure: {out / 'comparison.png'}\ntable: {out / 'comparison.csv'}, "
          f"{out / 'comparison.md'}")


if __name__ == "__main__":
    main()
