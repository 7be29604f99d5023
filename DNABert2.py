"""Fine-tune DNABERT-2 (in plain PyTorch, from the released snapshot) on intron-retention
sequences.

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

  python DNABert2.py --json json/DNABert2_original.json -n -t -e   the original study's load

model_name_or_path in the JSON names a local snapshot folder (works offline) or a hub id such as
zhihan1996/DNABERT-2-117M (the local Hugging Face cache is used first; with HF_HUB_OFFLINE=1 the
network is never touched). Download the snapshot once, on a machine with internet, with
  hf download zhihan1996/DNABERT-2-117M --local-dir models/DNABERT-2-117M
DNABERT-2 runs in plain PyTorch: no code of the snapshot runs. "load": "original_study" in the
JSON reproduces the original study's load (transformers' standard BERT class fed the released
checkpoint); the run log lists the tensors loaded, dropped and newly initialised.
"""


def main(argv=None):
    parser = model_parser(
        "DNABert2.py", "Fine-tune DNABERT-2 (native PyTorch; or another Hugging Face sequence "
        "classifier with a tokenizer.json) to predict intron retention. Sequences are tokenised "
        "once, padded or truncated to max_length tokens; checkpoints hold the tokenizer and the "
        "model config, so -m evaluates offline without the original model folder.",
        "json/DNABert2.json", EXAMPLES,
        freeze_help="keep the pretrained encoder (embeddings and transformer layers) fixed and "
                    "train only the classification head (pooler + classifier)")
    parser.add_argument("--make-tiny-model", metavar="DIR",
                        help="write a tiny DNABERT-2 snapshot (random encoder, BPE tokenizer "
                             "trained on the training sequences of --json's data_path) to DIR, "
                             "laid out as the released one (used by the demo), then exit")
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
    print(f"tiny DNABERT-2 snapshot (config.json, tokenizer.json, model.safetensors) written to "
          f"{folder}")


if __name__ == "__main__":
    main()
