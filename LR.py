"""Train and evaluate logistic regression on Sei outputs (ALL, TF or HM feature set).

    python LR.py --json json/LR.json -n -t -e
"""

from src.cli import model_parser, run_model_cli

EXAMPLES = """examples:
  python LR.py --json json/LR.json -n -t -e          train on all 21,907 Sei outputs, evaluate
  python LR.py --json json/LR_TF.json -n -t -e       the same on the transcription-factor set
  python LR.py --json json/LR.json -m results/LR/ALL/LR_<time>/best.pt -e   evaluate a model
  python LR.py --resume results/LR/ALL/LR_<time>     continue an interrupted run

Each run also writes importance.csv (every feature's weight and Sei target name, largest |weight|
first) and weight_distribution.png.
"""


def main(argv=None):
    parser = model_parser("LR.py", "Logistic regression on the Sei outputs written by "
                          "Preprocess_data_to_numpy.py (features_path + feature_set in the JSON), "
                          "trained with the shared training loop.", "json/LR.json", EXAMPLES)
    args = parser.parse_args(argv)

    def weight_report(folder):
        from accelerate import PartialState

        from src.runs import BEST_CHECKPOINT
        from src.train.checkpoints import load_model
        from src.train.specs import write_weight_report

        if PartialState().is_main_process:
            checkpoint = folder / BEST_CHECKPOINT if args.train else args.model
            model, payload = load_model(checkpoint, expected_model="LR")
            write_weight_report(folder, model, payload, checkpoint)

    run_model_cli("LR", args, after=weight_report)


if __name__ == "__main__":
    main()
