"""Train and evaluate the study's dilated-residual CNN (ConvNet) on intron-retention sequences.

    python ConvNet.py --json json/ConvNet.json -n -t -e
"""

from src.cli import check_model_flags, model_parser, run_cli
from src.config import ConvNetConfig
from src.data import build_sequence_datasets
from src.workflow import ModelSpec, run_model_script

SPEC = ModelSpec(
    name="ConvNet",
    config_class=ConvNetConfig,
    build_datasets=build_sequence_datasets,
    architecture=lambda config: {**config.model_architecture.model_dump(),
                                 "sequence_length": config.sequence_length},
)

EXAMPLES = """examples:
  python ConvNet.py --json json/ConvNet.json -n -t -e       train a new model, evaluate on test
  python ConvNet.py -m results/ConvNet/ConvNet_<time>/best.pt -e   evaluate a trained model
  python ConvNet.py --resume results/ConvNet/ConvNet_<time>        continue an interrupted run
"""


def main(argv=None):
    parser = model_parser("ConvNet.py", "Dilated-residual CNN (480-640-720-960 channels, GELU, "
                          "dilated blocks at 2/4/8, attention-pool head) trained from scratch on "
                          "one-hot DNA.", "json/ConvNet.json", EXAMPLES)
    args = parser.parse_args(argv)
    run_cli(lambda: (check_model_flags(args), run_model_script(SPEC, args)))


if __name__ == "__main__":
    main()
