"""Explain a sequence model: Integrated Gradients hot spots, scanned with JASPAR motifs, and
motifs found de novo on the attribution maps (TF-MoDISco, TOMTOM).

    python Attribute.py -m results/FSei/FSei_<time>/best.pt -i -b -s -w 42 -t 0.7 -p 0.8 \
        -d data/jaspar.meme.txt -r IG
"""

import argparse

from src.cli import run_cli, script_parser

DEFAULT_JSON = "json/Attribute.json"

EXAMPLES = """examples:
  python Attribute.py -m results/FSei/FSei_<time>/best.pt -i -b          IG, then motif enrichment
  python Attribute.py -m results/FSei/FSei_<time>/best.pt -s -r IG
                                      de novo motifs on the maps that -i -r IG saved
  python Attribute.py -m results/FSei/FSei_<time>/best.pt -b -d data/jaspar.meme.txt -r IG
                                      rescan the saved windows of -r IG with another database
  python Attribute.py --json json/demo/Attribute.json -m results/demo/ConvNet/ConvNet_<time> -i -b
  python Attribute.py --json json/improved/Attribute.json -m results/FSei/FSei_<time> -i -b -r IG2
                                      the alternative rules (README, "Improved settings")

outputs (in <run folder>/<-r>/): windows.csv, attributions.npz, integration.json, maps.csv,
maps_codes.npy, maps_ig.npy, maps.json (-i); nsites.txt (per window, the study's table),
nsites_per_intron.txt (per intron, Fisher's exact test), enrichment.csv,
enrichment_per_intron.csv, motif_hits.csv, top_tfs.png, logos_IR.png, logos_non_IR.png (-b);
denovo/: denovo.md, patterns.png, patterns.csv, patterns.meme, matches.csv, seqlets.csv,
denovo.json (-s). Defaults: json/Attribute.json, the rules of the study's code.
"""


def steps_value(text: str):
    """--steps: a whole number of steps, or auto."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of steps or 'auto'") from None


# flag -> AttributeConfig key; a flag given on the command line overrides the JSON
OVERRIDES = {"window": "window", "threshold": "ig_threshold", "prediction": "prediction_threshold",
             "database": "database", "result": "result", "steps": "ig_steps",
             "batch_size": "batch_size", "device": "device", "p_value": "p_value"}


def build_parser() -> argparse.ArgumentParser:
    parser = script_parser(
        "Attribute.py", "Integrated Gradients (captum) on the valid + test sequences that a model "
        "predicts correctly and confidently; windows around the attribution hot spots; motif hits "
        "in IR and non-IR hot spots compared per TF, per window (the study's two-proportion "
        "z-test) and per intron (Fisher's exact test), Bonferroni and Benjamini-Hochberg "
        "adjusted. Works with any one-hot sequence model checkpoint (FSei, ConvNet, Basset).",
        EXAMPLES)
    parser.add_argument("-m", "--model", required=True, metavar="PATH",
                        help="checkpoint (a run's best.pt) or its run folder; outputs go to "
                             "<run folder>/<-r>/")
    parser.add_argument("-i", "--integrate", action="store_true",
                        help="select sequences, run Integrated Gradients, cut and save the "
                             "hot-spot windows")
    parser.add_argument("-b", "--bind", action="store_true",
                        help="scan the saved windows with the motifs of -d and rank TFs by "
                             "enrichment in IR vs non-IR windows")
    parser.add_argument("-s", "--denovo", action="store_true",
                        help="de novo motifs: TF-MoDISco on the full attribution maps that -i "
                             "saves (each class apart), patterns matched to the -d motifs with "
                             "TOMTOM; settings: the JSON's 'denovo' object")
    parser.add_argument("-w", "--window", type=int, metavar="BP",
                        help="window width around a hot spot (the JSON's; json/Attribute.json: "
                             "42, as the study's published table)")
    parser.add_argument("-t", "--threshold", type=float, metavar="T",
                        help="hot spot: position score > T x the sequence's maximum (0.7)")
    parser.add_argument("-p", "--prediction", type=float, metavar="P",
                        help="keep sequences predicted correctly with probability > P (0.8, "
                             "the threshold the study's code applied)")
    parser.add_argument("-d", "--database", metavar="DB",
                        help="motifs: a MEME file (the study's data/jaspar.meme.txt, named in "
                             "json/Attribute.json) or a JASPAR release name such as jaspar2024 "
                             "(CORE vertebrates, read offline from pyjaspar; the default "
                             "without a JSON)")
    parser.add_argument("-r", "--result", metavar="NAME",
                        help="output folder name inside the model's run folder (default IG)")
    parser.add_argument("--steps", type=steps_value, metavar="N",
                        help="Integrated Gradients steps (20, as the study), or auto: the fewest "
                             "steps whose completeness error is within max_relative_delta "
                             "(median, and all but max_fraction_over_delta of a sample)")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="model inputs per forward/backward pass (default 256)")
    parser.add_argument("--device", metavar="DEV",
                        help="auto (GPU when available), cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--p-value", type=float, metavar="P",
                        help="count a hit when the best site's p-value is <= P instead of the "
                             "hit_rule of the JSON")
    parser.add_argument("--json", metavar="PATH",
                        help=f"JSON config with every setting (default {DEFAULT_JSON} when it "
                             f"exists); flags override it")
    parser.add_argument("--force", action="store_true",
                        help="with -i: replace the windows and maps that an earlier -i saved "
                             "under the same -r")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def resolve_config(args: argparse.Namespace):
    """The JSON config (or the defaults) with the flags given on the command line on top."""
    from src.config import AttributeConfig, config_with_flags

    flags = {f"--{flag.replace('_', '-')}": (key, getattr(args, flag))
             for flag, key in OVERRIDES.items()}
    return config_with_flags(AttributeConfig, args.json, DEFAULT_JSON, flags)


def main(argv=None):
    args = build_parser().parse_args(argv)

    def work():
        from src.interpret.attribute import run_attribution

        config = resolve_config(args)
        run_attribution(config, args.model, integrate=args.integrate, bind=args.bind,
                        force=args.force, progress=not args.no_progress,
                        window_given=args.window is not None, denovo=args.denovo)

    run_cli(work, single_process="Attribute.py")


if __name__ == "__main__":
    main()
