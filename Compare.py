"""Compare runs: the paper's ROC / precision-recall figure and a metrics table.

    python Compare.py results/FSei results/LR/ALL results/ConvNet --out results/comparison
"""

from src.cli import run_cli, script_parser

EXAMPLES = """examples:
  python Compare.py results/FSei results/ConvNet results/Basset --out results/comparison
  python Compare.py results/LR/ALL/LR_20250101-120000 results/LGBM/TF --labels "LR ALL" LightGBM
"""


def main(argv=None):
    parser = script_parser(
        "Compare.py", "Draw ROC and precision-recall curves of several runs side by side (AUROC / "
        "AUPRC in the legend) from their predictions.csv, and write the metrics table as CSV and "
        "Markdown, with the study's published numbers beside them.", EXAMPLES)
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="a run folder, or a results folder (its newest evaluated run is used)")
    parser.add_argument("--labels", nargs="+", metavar="NAME",
                        help="legend names, one per RUN (default: the model of each run)")
    parser.add_argument("--out", default="results/comparison",
                        help="folder for comparison.png, comparison.csv and comparison.md")
    args = parser.parse_args(argv)
    run_cli(lambda: compare(args), single_process="Compare.py")


def compare(args):
    from pathlib import Path

    from src.report.comparison import (
        FIGURE_FILE,
        MARKDOWN_FILE,
        TABLE_FILE,
        compare_runs,
        to_markdown,
    )

    table = compare_runs(args.runs, args.out, args.labels)
    out = Path(args.out)
    print(to_markdown(table.drop(columns=["run", "n_positive"])))
    print(f"figure: {out / FIGURE_FILE}\ntable: {out / TABLE_FILE}, {out / MARKDOWN_FILE}")


if __name__ == "__main__":
    main()
