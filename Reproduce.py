"""Reproduce the study end to end: every model, the attribution, the comparison figure and table.

    python Reproduce.py --config paper     # make paper: the real data, sei.pth, DNABERT-2
    python Reproduce.py --config demo      # make demo: synthetic data, CPU, a few minutes
"""

import time
from pathlib import Path

from src.cli import run_cli, script_parser

CONFIG_DIRS = {"paper": "json", "demo": "json/demo"}

EXAMPLES = """examples:
  python Reproduce.py --config demo                   the whole study on the demo data
  python Reproduce.py --config paper --dry-run        what is done, what would run, what is missing
  python Reproduce.py --config paper --only LGBM "importance plot"   just these steps
  python Reproduce.py --config paper --json-dir my_json              the same with other configs
  python Reproduce.py --config demo --seeds 3         every trained model with 3 seeds

steps, in order (demo: after 'demo data', 'demo genome', 'demo Sei' and 'tiny DNABERT-2', which
write the demo inputs): FSei, Preprocess, 'LR ALL', 'LR TF', 'LR HM', LGBM, 'importance plot',
Basset, ConvNet, DNABERT-2, Attribute, Compare (demo: then Predict, Predict.py on the demo
genome's introns and variants with the ConvNet run).

A step whose outputs exist is skipped (a model step: a run in its results_path with test
predictions; Preprocess: every split complete; Attribute: nsites.txt of the newest FSei run;
Compare: comparison.csv of the newest runs), so running the command again continues where it
stopped; an interrupted training run is continued with --resume. To run a step again, move its
outputs away (e.g. the run folder). Every input is checked before anything runs.

--seeds N runs every trained model (FSei, LR, LGBM, Basset, ConvNet, DNABERT-2) N times: seed 1 is
the step above, seed k > 1 the step "<name> seed k" with the config's seed + 10000 (k - 1) and its
runs in <results_path>/seed_k/ (same data split); finished seeds are skipped. A last step,
'Compare seeds', writes comparison_seeds.csv/.md/.png (mean +- SD, curves with a band) and
paired_tests.csv (FSei against each model: bootstrap over test introns, DeLong per seed).
--only FSei runs FSei's seeds too.
"""


def main(argv=None):
    parser = script_parser(
        "Reproduce.py", "Run the study's whole sequence with the JSON configs of one folder: "
        "FSei, Sei features, logistic regression on all / TF / histone-mark features, LightGBM "
        "and the importance bar plot, Basset, ConvNet, DNABERT-2, Integrated Gradients + motif "
        "enrichment on FSei, and the comparison figure and table; then print the comparison "
        "table, the attribution table and where the figures are.", EXAMPLES)
    parser.add_argument("--config", choices=sorted(CONFIG_DIRS), default="demo",
                        help="paper: json/ and the real inputs; demo: json/demo/, writing the "
                             "demo inputs first")
    parser.add_argument("--json-dir", metavar="DIR",
                        help="take the configs from DIR instead (same file names as json/)")
    parser.add_argument("--only", nargs="+", metavar="STEP",
                        help="run only these steps (if not done yet)")
    parser.add_argument("--out", metavar="DIR",
                        help="folder of the comparison figure/tables and the importance bar plot "
                             "(None: comparison/ beside the FSei results folder)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="run every trained model with N seeds (seed 1 = the config's); "
                             "compare them with mean +- SD and paired tests")
    parser.add_argument("--dry-run", action="store_true",
                        help="only say which steps are done and which would run, and check the "
                             "inputs")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    run_cli(lambda: reproduce(args, argv), single_process="Reproduce.py")


def reproduce(args, argv=None) -> None:
    import sys

    from src.errors import InputError
    from src.pipeline.seeds import seeds_summary, with_seeds
    from src.pipeline.steps import run_steps
    from src.pipeline.study import study_inputs, study_steps, summary
    from src.report.html import write_report
    from src.report.record import RECORD_FILE, RecordWriter

    started = time.perf_counter()
    json_dir = Path(args.json_dir or CONFIG_DIRS[args.config])
    demo = args.config == "demo"
    if demo:  # the demo's inputs first and Predict.py last
        from src.demo.steps import demo_study

        steps, pipeline = demo_study(json_dir, args.seeds, args.out)
    else:
        pipeline = with_seeds(study_steps(json_dir, out=args.out), args.seeds)
        steps = pipeline.steps
    # every input is checked before anything (the run record included) is written
    run_steps(steps, only=args.only, dry_run=True,
              log=print if args.dry_run else (lambda message: None))
    if args.dry_run:
        return
    results = pipeline.out.parent  # the folder of every results_path, and of comparison/
    results.mkdir(parents=True, exist_ok=True)
    inputs = study_inputs(json_dir, pipeline)
    command = ["Reproduce.py", *(sys.argv[1:] if argv is None else argv)]
    record = RecordWriter.start(results / RECORD_FILE, command, inputs=inputs)
    outcome = "failed"
    try:
        status = run_steps(steps, only=args.only, record=record)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise InputError("interrupted: run the same command again; the finished steps are "
                         "skipped and an interrupted training run is continued") from None
    finally:
        record.finish(outcome, inputs=inputs)
        # the page is written whatever happened: it says which steps did not run
        report = write_report(results, warn=lambda message: print(f"note: {message}"))
        if outcome != "finished":
            print(f"report (so far): {report}")
    print(summary(pipeline.steps, pipeline.out))
    if demo:
        from src.demo.steps import predict_summary

        print(predict_summary(json_dir))
    if args.seeds > 1:
        print(seeds_summary(pipeline.out))
    ran = sum(1 for s in status.values() if s == "ran")
    print(f"\n{ran} step(s) run, {sum(1 for s in status.values() if s == 'done')} already done; "
          f"{time.perf_counter() - started:.0f} s")
    print(f"report: {report}")


if __name__ == "__main__":
    main()
