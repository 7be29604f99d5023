"""Fine-tune DNABERT-2 (a Hugging Face sequence classifier) on intron-retention sequences.

    python DNABert2.py --json json/DNABert2.json -n -t -e
"""

from src.cli import model_parser, run_cli, run_model_cli
from src.errors import InputError

EXAMPLES = """examples:
  python DNABert2.py --json json/DNABert2.json -n -t -e        fine-tune DNABERT-2, evaluate on test
  python DNABert2.py --json json/DNABert2.json -n -t -e -f     train only the classification head
  python DNABert2.py -m results/DNABert2/DNABERT2_<time>/best.pt -e   evaluate a checkpoint (offline)
  python DNABert2.py --resume results/DNABert2/DNABERT2_<time>        continue an interrupted run
  python DNABert2.py --json json/demo/DNABert2.json --make-tiny-model data/demo/tiny-dnabert2

model_name_or_path in the JSON names a local model folder (works offline) or a hub id such as
zhihan1996/DNABERT-2-117M (the local Hugging Face cache is used first; with HF_HUB_OFFLINE=1 the
network is never touched). Download a snapshot for offline use with
  hf download zhihan1996/DNABERT-2-117M --local-dir models/DNABERT-2-117M
"""


def main(argv=None):
    parser = model_parser(
        "DNABert2.py", "Fine-tune DNABERT-2 (or another Hugging Face sequence classifier with a "
        "fast tokenizer) to predict intron retention. Sequences are tokenised once, padded or "
        "truncated to max_length tokens; checkpoints hold the tokenizer and the model config, so "
        "-m evaluates offline without the original model folder.", "json/DNABert2.json", EXAMPLES,
        freeze_help="keep the pretrained encoder (embeddings and transformer layers) fixed and "
                    "train only the classification head (pooler + classifier)")
    parser.add_argument("--make-tiny-model", metavar="DIR",
                        help="write a tiny BERT with a BPE tokenizer trained on the training "
                             "sequences of --json's data_path to DIR (a local stand-in for "
                             "DNABERT-2 used by the demo), then exit")
    args = parser.parse_args(argv)
    if args.make_tiny_model:
        run_cli(lambda: _make_tiny_model(args))
        return
    run_model_cli("DNABERT2", args)


def _make_tiny_model(args) -> None:
    if args.new or args.model or args.resume or args.train or args.evaluate:
        raise InputError("--make-tiny-model is a step of its own: run it without -n/-m/--resume/"
                         "-t/-e, then train with -n -t")
    from src.config import DNABert2Config, load_config
    from src.demo.dnabert2 import make_tiny_model_for_config

    config = load_config(args.json or args.default_json, DNABert2Config)
    folder = make_tiny_model_for_config(config, args.make_tiny_model)
    print(f"tiny model and tokenizer written to {folder}")


if __name__ == "__main__":
    main()
