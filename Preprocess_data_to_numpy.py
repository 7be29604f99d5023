"""Run the full Sei model over every split and save its 21,907 outputs as features for LR/LGBM.

    python Preprocess_data_to_numpy.py --data data --result data/sei_features
"""

import argparse
import logging

from src.cli import run_cli, script_parser
from src.device import launched_rank
from src.errors import InputError

DEFAULT_JSON = "json/Preprocess.json"
# flag -> config key; a flag given on the command line overrides the JSON
OVERRIDES = {"data": "data_path", "result": "result_path", "weights": "sei_path",
             "target_names": "target_names", "length": "sequence_length",
             "batch_size": "batch_size", "device": "device", "strand_average": "strand_average"}

EXAMPLES = """examples:
  python Preprocess_data_to_numpy.py --data data --result data/sei_features
  torchrun --standalone --nproc_per_node 4 Preprocess_data_to_numpy.py --data data --result data/sei_features
                                     the same on 4 GPUs of one machine (rows shared out)
  python Preprocess_data_to_numpy.py --json json/demo/Preprocess.json
  python Preprocess_data_to_numpy.py --json json/demo/Preprocess.json --make-demo-sei data/demo/sei
                                        small Sei trained on synthetic profiles, for the demo

Outputs in the result folder, for SET in ALL, TF, HM and split in train, valid, test:
  data_SET_split.npy (float32, rows x features), target_SET_split.npy (int64 labels),
  features_SET.txt (Sei target name of each column), headers_split.txt (row headers, "_r" =
  reverse complement), sei_features_split.json (settings; written when the split is complete).
A split complete on disk is skipped when the script runs again.

sei.pth: Zenodo record 4906996 (https://doi.org/10.5281/zenodo.4906996), e.g.
  wget https://zenodo.org/record/4906997/files/sei_model.tar.gz && tar -xzf sei_model.tar.gz
target.names: https://github.com/FunctionLab/sei-framework (model/target.names).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(
        "Preprocess_data_to_numpy.py", examples=EXAMPLES,
        description="Map each sequence (centred in 4,000 bp; every split plus its reverse "
                    "complements, as in the study) to the 21,907 Sei chromatin-profile "
                    "predictions, and write them, and the transcription-factor (TF) and "
                    "histone-mark (HM) subsets, as .npy files for LR.py and LGBM.py. Settings "
                    "come from the JSON config; the flags below override it.")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help=f"JSON config (default {DEFAULT_JSON} when it exists, else the "
                             f"built-in defaults, which are the same)")
    parser.add_argument("--data", metavar="DIR", help="folder with final_data.csv and the split "
                                                      "files (config key data_path)")
    parser.add_argument("--result", metavar="DIR",
                        help="output folder (result_path; default data/sei_features)")
    parser.add_argument("--weights", metavar="PATH", help="Sei weights, sei.pth (sei_path)")
    parser.add_argument("--target-names", metavar="PATH",
                        help="Sei's target.names (target_names)")
    parser.add_argument("--length", type=int, metavar="BP",
                        help="Sei input length; sequences are centred in it (sequence_length, "
                             "4000 in the study)")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="sequences per forward pass (batch_size; lower it if memory runs out)")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (device)")
    parser.add_argument("--strand-average", action=argparse.BooleanOptionalAction, default=None,
                        help="average each sequence's outputs with its reverse complement's, as "
                             "the Sei framework does (strand_average; the study did not)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--make-demo-sei", metavar="DIR",
                        help="only write a small Sei for the demo (DIR/sei.pth, official key "
                             "format), trained on synthetic chromatin profiles of JASPAR motifs "
                             "at the config's sequence_length (use --json json/demo/Preprocess.json"
                             "), with its DIR/target.names and DIR/training.json, then exit")
    parser.add_argument("--demo-sei-sequences", type=int, metavar="N", default=6000,
                        help="with --make-demo-sei: synthetic training sequences (0: random "
                             "weights, no training)")
    return parser


def resolve_config(args):
    """The JSON config (or the defaults) with the command-line flags applied and checked."""
    from src.config import PreprocessConfig, config_with_flags

    flags = {f"--{flag.replace('_', '-')}": (key, getattr(args, flag))
             for flag, key in OVERRIDES.items()}
    return config_with_flags(PreprocessConfig, args.json, DEFAULT_JSON, flags)


def main(argv=None):
    args = build_parser().parse_args(argv)
    # launched with several processes (torchrun / accelerate launch), only the first one reports
    is_main = launched_rank() == 0
    logging.basicConfig(level=logging.INFO if is_main else logging.WARNING, format="%(message)s")

    def work():
        if args.make_demo_sei:
            from src.demo.sei import DemoSeiTraining, write_demo_sei

            if args.demo_sei_sequences < 0:
                raise InputError(f"--demo-sei-sequences {args.demo_sei_sequences}: give 0 (no "
                                 f"training) or more")
            length = resolve_config(args).sequence_length
            training = DemoSeiTraining(n_sequences=args.demo_sei_sequences, input_length=length,
                                       insert_length=min(600, length))
            weights, names = write_demo_sei(args.make_demo_sei, train=args.demo_sei_sequences > 0,
                                            training=training)
            print(f"demo Sei written: {weights} and {names}")
            return
        from src.features.extract import run_preprocess

        config = resolve_config(args)
        run_preprocess(config, progress=not args.no_progress)
        if is_main:
            print(f"Sei features in {config.result_path}")

    def work_or_stop():
        try:
            work()
        except KeyboardInterrupt:
            message = ("interrupted: run the same command again; the splits already complete "
                       "are kept and the interrupted one is made again")
            from src.distributed import quiet_copy

            raise (InputError(message) if is_main else quiet_copy(message)) from None

    run_cli(work_or_stop)


if __name__ == "__main__":
    main()
