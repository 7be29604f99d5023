"""Command-line plumbing shared by the scripts: the study's flags and the error convention.

Expected problems (`InputError`) print one paragraph and exit with code 2; anything else is a bug
and keeps its traceback. This module imports nothing heavy, so that `--help` is instant: scripts
parse their flags first and import PyTorch and the rest inside the work they hand to `run_cli`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from .device import launched_processes, launched_rank
from .errors import InputError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows defaults (not an empty one) and keeps the line breaks of descriptions and examples."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def script_parser(prog: str, description: str, examples: str) -> argparse.ArgumentParser:
    """The parser of a script: its description, and its examples after the flags."""
    return argparse.ArgumentParser(prog=prog, description=description, epilog=examples,
                                   formatter_class=HelpFormatter)


def model_parser(script: str, description: str, default_json: str, examples: str,
                 pretrain_flags: bool = False, freeze_help: str | None = None
                 ) -> argparse.ArgumentParser:
    """The flags every model script shares (the study's names): --json -n -m -t -e --resume."""
    parser = script_parser(script, description, examples)
    parser.add_argument("--json", default=None, metavar="PATH",
                        help=f"JSON config (settings and paths); default {default_json}")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("-n", "--new", action="store_true", help="build a new model")
    source.add_argument("-m", "--model", metavar="PATH",
                        help="start from an existing checkpoint (a run's best.pt)")
    source.add_argument("--resume", metavar="RUN_DIR",
                        help="continue an interrupted training run from its last completed epoch "
                             "(uses the run's own config.json and last.pt)")
    parser.add_argument("-t", "--train", action="store_true",
                        help="train (a new model with -n, or further train the model of -m)")
    parser.add_argument("-e", "--evaluate", action="store_true",
                        help="evaluate on the test split: predictions.csv, metrics, a row in "
                             "results.csv (after training, the best checkpoint is evaluated)")
    parser.add_argument("--split", default="test", choices=("train", "valid", "test"),
                        help="split evaluated by -e")
    if pretrain_flags:
        parser.add_argument("-p", "--pretrain", action="store_true",
                            help="initialise the trunk from the pretrained weights named in the "
                                 "JSON (only with -n)")
    if freeze_help:
        parser.add_argument("-f", "--freeze", action="store_true", help=freeze_help)
    parser.set_defaults(default_json=default_json)
    return parser


def check_model_flags(args: argparse.Namespace) -> None:
    """Cross-flag rules, as errors that say what to type instead."""
    if not (args.new or args.model or args.resume):
        raise InputError("choose a model: -n for a new one, -m PATH for an existing checkpoint, "
                         "or --resume RUN_DIR to continue a run")
    if args.resume:
        if args.json:
            raise InputError("--resume continues a run with its own config.json; drop --json")
        args.train = True
    if args.new and not args.train:
        raise InputError("-n builds an untrained model: add -t to train it (and -e to evaluate)")
    if not (args.train or args.evaluate):
        raise InputError("nothing to do: add -t to train and/or -e to evaluate")
    if getattr(args, "pretrain", False) and not args.new:
        raise InputError("-p loads pretrained weights into a new model: use it with -n")
    if args.json is None and not args.resume:
        args.json = args.default_json


def model_examples(script: str, model: str, results: str) -> str:
    """The three usual commands of a model script: train + evaluate, evaluate, resume."""
    return (f"examples:\n"
            f"  python {script} --json json/{script[:-3]}.json -n -t -e     train a new model, "
            f"evaluate on test\n"
            f"  python {script} -m {results}/{model}_<time>/best.pt -e   evaluate a trained model\n"
            f"  python {script} --resume {results}/{model}_<time>        continue an interrupted "
            f"run\n")


def model_script(model: str, description: str):
    """`main(argv)` of a model script with only the shared flags (Basset.py, ConvNet.py)."""
    script = f"{model}.py"

    def main(argv=None):
        parser = model_parser(script, description, f"json/{model}.json",
                              model_examples(script, model, f"results/{model}"))
        run_model_cli(model, parser.parse_args(argv))

    return main


def run_model_cli(spec_name: str, args: argparse.Namespace, after=None) -> None:
    """What a model script does after parsing: check the flags, run the shared workflow with
    the model's spec (`src.train.specs`), then `after(run_folder)` if given."""

    def work():
        check_model_flags(args)
        from .train.specs import spec
        from .train.workflow import run_model_script

        folder = run_model_script(spec(spec_name), args)
        if after is not None:
            after(folder)

    run_cli(work)


def run_cli(main: Callable[[], object], single_process: str | None = None) -> None:
    """Run a script's work; user errors become a message on stderr and exit code 2.

    single_process : the script's name when it must not run as several processes (it would run
        N copies writing the same outputs under torchrun / accelerate launch)
    """
    try:
        if single_process and launched_processes() > 1:
            error = InputError(f"{single_process} runs as one process: start it with "
                               f"`python {single_process} ...`, not with torchrun or accelerate "
                               f"launch (only the training scripts and Preprocess use several)")
            error.quiet = launched_rank() != 0
            raise error
        main()
    except InputError as err:
        if not getattr(err, "quiet", False):  # quiet: another process of the job prints it
            print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if launched_rank() == 0:  # Ctrl-C reaches every process of a job; one message
            print("interrupted: continue a training run with --resume RUN_DIR", file=sys.stderr)
        sys.exit(130)
