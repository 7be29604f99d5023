"""Train and evaluate the study's Basset-like CNN on intron-retention sequences.

    python Basset.py --json json/Basset.json -n -t -e
"""

from src.cli import check_model_flags, model_parser, run_cli
from src.config import BassetConfig
from src.data import build_sequence_datasets
from src.workflow import ModelSpec, run_model_script

SPEC = ModelSpec(
    name="Basset",
    config_class=BassetConfig,
    build_datasets=build_sequence_datasets,
    architecture=lambda config: {**config.model_architecture.model_dump(),
                                 "sequence_length": config.sequence_length},
)

EXAMPLES = """examples:
  python Basset.py --json json/Basset.json -n -t -e       train a new model, evaluate on test
  python Basset.py -m results/Basset/Basset_<time>/best.pt -e   evaluate a trained model
  python Basset.py --resume results/Basset/Basset_<time>        continue an interrupted run
"""


def main(argv=None):
    parser = model_parser("Basset.py", "Basset-like CNN trained from scratch on one-hot DNA "
                          "(three conv layers, three linear layers; architecture in the JSON "
                          "block model_architecture).", "json/Basset.json", EXAMPLES)
    args = parser.parse_args(argv)
    run_cli(lambda: (check_model_flags(args), run_model_script(SPEC, args)))


if __name__ == "__main__":
    main()
