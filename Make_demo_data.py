"""Write the synthetic demo dataset (real file format, planted JASPAR motifs), or, with --genome,
the demo genome, introns and variants that Predict.py scores at the end of the demo.

    python Make_demo_data.py --out data/demo
    python Make_demo_data.py --genome data/demo/genome --window 600
"""

from src.cli import run_cli, script_parser

EXAMPLES = """examples:
  python Make_demo_data.py --out data/demo                   the demo's 3,000 sequences of 600 bp
  python Make_demo_data.py --out data/tiny -n 300 --length 300
  python Make_demo_data.py --genome data/demo/genome --window 600   genome.fa, introns.bed,
                                                  variants.vcf.gz and their truth tables
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
    genome = parser.add_argument_group(
        "demo genome (--genome): two random chromosomes whose introns carry the planted motifs, "
        "a few IR introns with one consensus IR motif each, and a VCF of variants that break "
        "those motifs, neutral ones and ones outside every intron window (src/demo/genome.py)")
    genome.add_argument("--genome", metavar="DIR",
                        help="write the demo genome to DIR instead of the sequences")
    genome.add_argument("--window", type=int, default=600,
                        help="the window Predict.py's model sees (its sequence_length): the "
                             "planted motifs lie inside the centred window")
    genome.add_argument("--chromosome-length", type=int, default=200_000)
    genome.add_argument("--introns-per-chromosome", type=int, default=40)
    genome.add_argument("--broken", type=int, default=8,
                        help="IR introns whose motif one SNV breaks (two more: a multi-allelic "
                             "record and a deletion)")
    genome.add_argument("--neutral", type=int, default=12, help="neutral SNVs inside windows")
    args = parser.parse_args(argv)
    settings = DemoSettings(n_sequences=args.n_sequences, length=args.length,
                            positive_fraction=args.positive_fraction, seed=args.seed)

    def work():
        if args.genome:
            from src.demo.genome import DemoGenomeSettings, generate_demo_genome

            sizes = DemoGenomeSettings(
                chromosome_length=args.chromosome_length,
                introns_per_chromosome=args.introns_per_chromosome, window=args.window,
                n_broken=args.broken, n_neutral=args.neutral, seed=args.seed)
            out = generate_demo_genome(args.genome, sizes, force=args.force)
            n_introns = sizes.n_chromosomes * sizes.introns_per_chromosome
            print(f"demo genome written to {out}: {sizes.n_chromosomes} chromosomes of "
                  f"{sizes.chromosome_length:,} bp, {n_introns} introns, variants in "
                  f"variants.vcf.gz (truth in variants_truth.tsv)")
            return
        out = generate_demo(args.out, settings, force=args.force)
        print(f"demo data written to {out}: {settings.n_sequences} sequences of "
              f"{settings.length} bp")

    run_cli(work, single_process="Make_demo_data.py")


if __name__ == "__main__":
    main()
