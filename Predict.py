"""Score anyone's introns and variants with a trained model: P(IR) on both strands.

    python Predict.py -m results/ConvNet/ConvNet_<time> --bed introns.bed --genome GRCh38.fa
"""

from src.cli import run_cli, script_parser

EXAMPLES = """examples:
  python Predict.py -m results/ConvNet/ConvNet_<time> --fasta introns.fa
  python Predict.py -m results/FSei/FSei_<time>/best.pt --csv data/final_data.csv
  python Predict.py -m results/ConvNet/ConvNet_<time> --bed introns.bed --genome GRCh38.fa
  python Predict.py -m results/ConvNet/ConvNet_<time> --bed introns.bed --genome GRCh38.fa \\
      --vcf variants.vcf.gz --explain 10 --out my_variants
  python Predict.py -m results/LGBM/TF/LGBM_<time> --fasta introns.fa     Sei features on the fly
  python Predict.py -m ... --out my_run --resume                          after an interruption

inputs: --fasta (any headers; the first word is the id; plain or gzip); --csv (the study's
final_data.csv format: header,sequence[,label]; with labels also metrics.json and
reliability.png); --bed (BED6, 0-based half-open; minus-strand introns are read reverse-
complemented) with --genome (FASTA, plain or bgzip; its .fai is built beside it if missing).
--vcf (plain or bgzip, 1-based POS) with --bed/--genome: every variant allele inside an intron's
window, reference vs alternative P(IR).

P(IR) is given for the sequence as it is (p_ir_forward; for BED the intron's strand), for its
reverse complement (p_ir_reverse) and their mean (p_ir), the study's two-strand protocol.
Sequences longer than the model's window are centre-cropped, shorter ones centred in padding (the
study's encoder); a BED window takes real flanking sequence from the genome. The note column says
what was done. Outputs are written as they go: after a kill, run the same command with --resume.
"""


def main(argv=None):
    parser = script_parser(
        "Predict.py", "Score introns (FASTA, the study's CSV, or BED + genome) or variants (VCF) "
        "with any trained model of the project: FSei, Basset, ConvNet, DNABERT-2, and LR / "
        "LightGBM through Sei features computed on the fly.", EXAMPLES)
    parser.add_argument("-m", "--model", required=True, metavar="PATH",
                        help="a run folder (its best.pt; a LightGBM run: its model.txt) or a "
                             "checkpoint file")
    inputs = parser.add_argument_group("input (one of)")
    inputs.add_argument("--fasta", metavar="FILE", help="sequences, FASTA (plain or gzip)")
    inputs.add_argument("--csv", metavar="FILE",
                        help="sequences in the study's CSV format (header,sequence[,label])")
    inputs.add_argument("--bed", metavar="FILE", help="introns, BED6 (needs --genome)")
    inputs.add_argument("--genome", metavar="FASTA", help="the genome of the BED coordinates")
    inputs.add_argument("--vcf", metavar="FILE",
                        help="variants (plain or bgzip VCF) scored in the BED introns' windows")
    windows = parser.add_argument_group("windows")
    windows.add_argument("--anchor", choices=("centre", "5ss", "3ss"), default="centre",
                         help="BED window: centred on the intron, or starting FLANK bases before "
                              "its 5' splice site, or ending FLANK bases after its 3' splice site")
    windows.add_argument("--flank", type=int, default=None,
                         help="exonic bases in a 5ss/3ss window (default 50)")
    windows.add_argument("--window", type=int, default=None, metavar="BP",
                         help="window / crop length (default: the model's input length; for "
                              "DNABERT-2, LR, LightGBM the length of its training sequences)")
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="DIR",
                        help="output folder (default: a new predict_<time>/ in the model's run "
                             "folder)")
    again = output.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue an interrupted run (same flags; without --out: the newest "
                            "interrupted predict_* folder of the run)")
    again.add_argument("--force", action="store_true",
                       help="replace the outputs already in --out")
    output.add_argument("--explain", type=int, default=0, metavar="N",
                        help="with --vcf: attribution figures and motif changes of the N "
                             "variants with the largest |delta|")
    output.add_argument("--motifs", default="jaspar2024", metavar="DB",
                        help="motifs for --explain: jaspar2024 (offline, pyjaspar) or a MEME file")
    output.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")
    running = parser.add_argument_group("running")
    running.add_argument("--batch-size", type=int, default=256,
                         help="sequences per forward pass (each on both strands)")
    running.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda")
    sei = parser.add_argument_group("LR / LightGBM (Sei features on the fly)")
    sei.add_argument("--features", metavar="DIR",
                     help="the Preprocess --result folder the model was trained on (default: the "
                          "one the model records)")
    sei.add_argument("--sei", metavar="PATH",
                     help="sei.pth (default: sei_path in the features folder's marker)")
    sei.add_argument("--sei-names", metavar="PATH",
                     help="target.names (default: target_names in the marker)")
    args = parser.parse_args(argv)

    def work():
        from src.predict.workflow import request_from_args, run_predict

        run_predict(request_from_args(args))

    run_cli(work, single_process="Predict.py")


if __name__ == "__main__":
    main()
