"""Write the synthetic demo dataset (real file format, planted JASPAR motifs).

    python Make_demo_data.py --out data/demo
"""

from src.cli import run_cli, script_parser

EXAMPLES = """examples:
  python Make_demo_data.py --out data/demo                   the demo's 3,000 sequences of 600 bp
  python Make_demo_data.py --out data/tiny -n 300 --length 300
"""


def main(argv=None):
    from src.demo.data import DemoSettings, generate_demo

    defaults = DemoSettings()
    parser = script_parser(
        "Make_demo_data.py", "Synthetic intron-retention data in the study's format: "
        "final_data.csv (header,sequence,label) and split index files, where label-1 sequences "
        "carry planted ZNF274/REST/ZNF143 motifs and label-0 sequences TP53/SRF/HNF4A motifs "
        "(JASPAR 2024, read offline from pyjaspar).", EXAMPLES)
    parser.add_argument("--out", default="data/demo", help="output folder")
    parser.add_argument("-n", "--n-sequences", type=int, default=defaults.n_sequences)
    parser.add_argument("--length", type=int, default=defaults.length, help="sequence length (bp)")
    parser.add_argument("--positive-fraction", type=float, default=defaults.positive_fraction,
                        help="fraction of label-1 (retained) sequences")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--force", action="store_true", help="replace existing demo files")
    args = parser.parse_args(argv)
    settings = DemoSettings(n_sequences=args.n_sequences, length=args.length,
                            positive_fraction=args.positive_fraction, seed=args.seed)

    def work():
        out = generate_demo(args.out, settings, force=args.force)
        print(f"demo data written to {out}: {settings.n_sequences} sequences of "
              f"{settings.length} bp")

    run_cli(work, single_process="Make_demo_data.py")


if __name__ == "__main__":
    main()
