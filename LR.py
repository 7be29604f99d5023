"""Train and evaluate logistic regression on Sei outputs (ALL, TF or HM feature set).

    python LR.py --json json/LR.json -n -t -e
"""

from accelerate import PartialState

from src.cli import check_model_flags, model_parser, run_cli
from src.config import LRConfig
from src.features import balanced_sampler, feature_count, load_feature_datasets
from src.linear import check_model_features, lr_checkpoint_extra, write_weight_report
from src.workflow import ModelSpec, run_model_script

SPEC = ModelSpec(
    name="LR",
    config_class=LRConfig,
    build_datasets=load_feature_datasets,
    architecture=lambda config: {"n_features": feature_count(config)},
    check_args=check_model_features,
    checkpoint_extra=lr_checkpoint_extra,
    sampler=balanced_sampler,
)

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

    def work():
        check_model_flags(args)
        folder = run_model_script(SPEC, args)
        if PartialState().is_main_process:
            write_weight_report(folder, folder / "best.pt" if args.train else args.model)

    run_cli(work)


if __name__ == "__main__":
    main()
