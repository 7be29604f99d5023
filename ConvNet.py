"""Train and evaluate the study's dilated-residual CNN (ConvNet) on intron-retention sequences.

    python ConvNet.py --json json/ConvNet.json -n -t -e
"""

from src.cli import model_parser, run_model_cli

EXAMPLES = """examples:
  python ConvNet.py --json json/ConvNet.json -n -t -e       train a new model, evaluate on test
  python ConvNet.py -m results/ConvNet/ConvNet_<time>/best.pt -e   evaluate a trained model
  python ConvNet.py --resume results/ConvNet/ConvNet_<time>        continue an interrupted run
"""


def main(argv=None):
    parser = model_parser("ConvNet.py", "Dilated-residual CNN (480-640-720-960 channels, GELU, "
                          "dilated blocks at 2/4/8, attention-pool head) trained from scratch on "
                          "one-hot DNA.", "json/ConvNet.json", EXAMPLES)
    run_model_cli("ConvNet", parser.parse_args(argv))


if __name__ == "__main__":
    main()
