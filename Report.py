"""One page to read a study run: report.html from a results folder.

    python Report.py results/demo              # -> results/demo/report.html
"""

from src.cli import run_cli, script_parser

EXAMPLES = """examples:
  python Report.py results/demo                   after make demo (Reproduce.py writes it too)
  python Report.py results                        after make paper
  python Report.py my_results --out shared/ir_report.html --title "IR, run 3"

The page reads, in order: what was run (commands, inputs with SHA-256 checksums, versions,
device, time per step; from pipeline_record.json, else from the run folders), the comparison
table beside the published numbers (mean +/- SD when there are several seeds), the ROC/PR
figure, the Sei-feature importances, the motif enrichment tables (window level, per intron) with
logos, the de novo patterns, the variant effects, and each run's training curves. A section
whose step did not run says so and names the command that makes it. The file is self-contained:
figures are embedded and nothing is fetched, so it opens offline and can be sent as it is.
"""


def main(argv=None):
    parser = script_parser(
        "Report.py", "Write one self-contained HTML page with the results of a study run found "
                     "in RESULTS_DIR (run folders, comparison/, the attribution folder, "
                     "pipeline_record.json), and print its path.", EXAMPLES)
    parser.add_argument("results_dir", metavar="RESULTS_DIR",
                        help="the results folder of a run (results/ or results/demo/), or any "
                             "folder below which the run folders are")
    parser.add_argument("--out", metavar="FILE",
                        help="the page to write (default: RESULTS_DIR/report.html)")
    parser.add_argument("--title", help="the page's title (default: the study's)")
    args = parser.parse_args(argv)
    run_cli(lambda: report(args), single_process="Report.py")


def report(args):
    import sys

    from src.report.html import write_report

    out = write_report(args.results_dir, args.out, args.title,
                       warn=lambda message: print(f"warning: {message}", file=sys.stderr))
    print(f"report: {out}")


if __name__ == "__main__":
    main()
