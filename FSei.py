"""Fine-tune the Sei trunk (FSei) for intron retention: Sei's convolutional trunk, loaded from the
official sei.pth with -p (and frozen with -f), followed by a new attention-pool head.

    python FSei.py --json json/FSei.json -n -p -t -e
"""

from src.cli import model_parser, run_model_cli

EXAMPLES = """examples:
  python FSei.py --json json/FSei.json -n -p -t -e     Sei trunk from sei.pth, fine-tune, evaluate
  python FSei.py --json json/FSei.json -n -p -f -t -e  the same with the trunk frozen (head only)
  python FSei.py --json json/FSei.json -n -t -e        the Sei architecture trained from scratch
  python FSei.py -m results/FSei/FSei_<time>/best.pt -e   evaluate a trained model
  python FSei.py --resume results/FSei/FSei_<time>        continue an interrupted run

sei.pth (3.5 GB): Zenodo record 4906996 (https://doi.org/10.5281/zenodo.4906996),
  wget https://zenodo.org/record/4906997/files/sei_model.tar.gz && tar -xzf sei_model.tar.gz
  then move model/sei.pth to the path of sei_path in the JSON (default: ./sei.pth).
"""


def main(argv=None):
    parser = model_parser(
        "FSei.py", "FSei: the convolutional trunk of the Sei chromatin model (34 tensors, "
        "optionally the pretrained weights of sei.pth) + B-spline layer + a new head "
        "(Conv1d 960->520 k=3, BatchNorm, ReLU, attention pooling, Linear 520->520, Linear "
        "520->2), fine-tuned to predict intron retention from one-hot DNA.", "json/FSei.json",
        EXAMPLES, pretrain_flags=True,
        freeze_help="freeze the pretrained trunk: only the head trains (needs -p)")
    run_model_cli("FSei", parser.parse_args(argv))


if __name__ == "__main__":
    main()
