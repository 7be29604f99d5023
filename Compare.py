"""Compare runs: the paper's ROC / precision-recall figure and a metrics table; or models run
with several seeds: mean ± SD, mean curves with a band, and paired tests (--group).

    python Compare.py results/FSei results/LR/ALL results/ConvNet --out results/comparison
    python Compare.py --group results/FSei results/FSei/seed_2 --group results/Basset
                      results/Basset/seed_2 --out results/comparison
"""

from src.cli import run_cli, script_parser

EXAMPLES = """examples:
  python Compare.py results/FSei results/ConvNet results/Basset --out results/comparison
  python Compare.py results/LR/ALL/LR_20250101-120000 results/LGBM/TF --labels "LR ALL" LightGBM
  python Compare.py --group results/FSei results/FSei/seed_2 results/FSei/seed_3
                    --group results/Basset results/Basset/seed_2 results/Basset/seed_3
                    (one command line)

With --group (one per model: its runs, one per seed, seed 1 first), writes comparison_seeds.csv
(mean, SD and each seed's value of every metric), comparison_seeds.md, comparison_seeds.png (mean
ROC and precision-recall curves with a +- SD band) and paired_tests.csv: the first model (or
--reference) against every other one on the same test sequences, by a paired bootstrap over
introns (a sequence and its reverse complement resampled together) of the difference of the means
over seeds, and by DeLong's test seed by seed. See README, "Several seeds".
"""


def main(argv=None):
    parser = script_parser(
        "Compare.py", "Draw ROC and precision-recall curves of several runs side by side (AUROC / "
        "AUPRC in the legend) from their predictions.csv, and write the metrics table as CSV and "
        "Markdown, with the study's published numbers beside them.", EXAMPLES)
    parser.add_argument("runs", nargs="*", metavar="RUN",
                        help="a run folder, or a results folder (its newest evaluated run is used)")
    parser.add_argument("--group", nargs="+", action="append", metavar="RUN",
                        help="one model run with several seeds: its run (or results) folders, "
                             "seed 1 first; repeat for each model (instead of RUN ...)")
    parser.add_argument("--labels", nargs="+", metavar="NAME",
                        help="legend names, one per RUN or per --group (default: the model of "
                             "each run)")
    parser.add_argument("--reference", metavar="NAME",
                        help="with --group: the model tested against every other (default: the "
                             "first group)")
    parser.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                        help="with --group: resamples of the test introns for the paired "
                             "bootstrap")
    parser.add_argument("--out", default="results/comparison",
                        help="folder for comparison.png, comparison.csv and comparison.md (and "
                             "the comparison_seeds.* / paired_tests.csv files of --group)")
    args = parser.parse_args(argv)
    if args.group and args.runs:
        parser.error("give either RUN ... or --group ..., not both")
    if not args.group and not args.runs:
        parser.error("give the runs to compare: RUN ... or --group RUN ... per model")
    if args.bootstrap < 100:
        parser.error("--bootstrap must be at least 100")
    run_cli(lambda: compare_groups(args) if args.group else compare(args),
            single_process="Compare.py")


def compare_groups(args):
    from pathlib import Path

    from src.report.seeds import (
        PAIRED_TESTS_FILE,
        SEEDS_FIGURE_FILE,
        SEEDS_MARKDOWN_FILE,
        SEEDS_TABLE_FILE,
        compare_seed_groups,
    )

    compare_seed_groups(args.group, args.out, args.labels, args.reference, args.bootstrap)
    out = Path(args.out)
    print((out / SEEDS_MARKDOWN_FILE).read_text())
    print(f"figure: {out / SEEDS_FIGURE_FILE}\ntables: {out / SEEDS_TABLE_FILE}, "
          f"{out / PAIRED_TESTS_FILE}, {out / SEEDS_MARKDOWN_FILE}")


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
