"""The paper's bar plot: top LR weights and top LightGBM importances, side by side.

    python Plot_importance.py --lr results/LR/TF --lgbm results/LGBM/TF --out results/top20.pdf
"""

import json
from pathlib import Path

from src.cli import run_cli, script_parser
from src.errors import InputError

EXAMPLES = """examples:
  python Plot_importance.py --lr results/LR/TF/LR_<time> --lgbm results/LGBM/TF/LGBM_<time>
  python Plot_importance.py --lr results/LR/TF --lgbm results/LGBM/TF --top 30 --out top30.pdf

A folder that is not itself a run folder stands for its newest run with an importance.csv.
Beside the figure, a CSV (same name, .csv) lists the plotted features and values.
"""


def main(argv=None):
    parser = script_parser(
        "Plot_importance.py", "Bar plot of the top LR weights (largest |weight|, signed) and the "
        "top LightGBM importances, labelled with the Sei assay target and cell type, from the "
        "importance.csv of an LR.py run and of an LGBM.py run.", EXAMPLES)
    parser.add_argument("--lr", required=True, metavar="PATH",
                        help="LR.py run folder (or its importance.csv, or its results folder)")
    parser.add_argument("--lgbm", required=True, metavar="PATH",
                        help="LGBM.py run folder (or its importance.csv, or its results folder)")
    parser.add_argument("--top", type=int, default=20, help="bars per panel")
    parser.add_argument("--out", default="results/importance_top20.png", metavar="FILE",
                        help="figure file; the extension chooses the format (.png, .pdf, .svg)")
    args = parser.parse_args(argv)
    run_cli(lambda: plot(args), single_process="Plot_importance.py")


def plot(args) -> Path:
    import pandas as pd

    from src.features.importance import read_importance_table, top_importance
    from src.io import atomic_write_text
    from src.report.figures import plot_top_features
    from src.runs import CONFIG_FILE

    if args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise InputError(f"--out {out}: use a .png, .pdf or .svg file name")
    lr, lr_path = read_importance_table(args.lr, "LR")
    lgbm, lgbm_path = read_importance_table(args.lgbm, "LGBM")
    lr_top, lgbm_top = top_importance(lr, "LR", args.top), top_importance(lgbm, "LGBM", args.top)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_top_features(lr_top, lgbm_top, out, titles=(f"LR ({lr_path.parent.name})",
                                                     f"LightGBM ({lgbm_path.parent.name})"),
                      importance_label=_importance_label(lgbm_path.parent / CONFIG_FILE))
    columns = ["rank", "assay", "cell_type", "name", "value"]
    rows = pd.concat([lr_top[columns].assign(rank=range(1, len(lr_top) + 1), model="LR"),
                      lgbm_top[columns].assign(rank=range(1, len(lgbm_top) + 1), model="LGBM")])
    rows = rows[["model", *columns]]
    atomic_write_text(out.with_suffix(".csv"), rows.to_csv(index=False, float_format="%.6g"))
    print(f"top {args.top} features of {lr_path} and {lgbm_path}: {out} and "
          f"{out.with_suffix('.csv')}")
    return out


def _importance_label(config_path: Path) -> str:
    """Axis label naming the LightGBM run's importance type (split count or total gain)."""
    try:
        kind = json.loads(config_path.read_text()).get("importance_type", "split")
    except (OSError, ValueError):
        return "importance"
    return "importance (times used in a split)" if kind == "split" else "importance (total gain)"


if __name__ == "__main__":
    main()
