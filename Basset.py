"""Train and evaluate the study's Basset-like CNN on intron-retention sequences.

    python Basset.py --json json/Basset.json -n -t -e
"""

from src.cli import model_parser, run_model_cli

EXAMPLES = """examples:
  python Basset.py --json json/Basset.json -n -t -e       train a new model, evaluate on test
  python Basset.py -m results/Basset/Basset_<time>/best.pt -e   evaluate a trained model
  python Basset.py --resume results/Basset/Basset_<time>        continue an interrupted run
"""


def main(argv=None):
    parser = model_parser("Basset.py", "Basset-like CNN trained from scratch on one-hot DNA "
                          "(three conv layers, three linear layers; architecture in the JSON "
                          "block model_architecture).", "json/Basset.json", EXAMPLES)
    run_model_cli("Basset", parser.parse_args(argv))


if __name__ == "__main__":
    main()
