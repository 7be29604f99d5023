"""Train and evaluate a LightGBM classifier on Sei outputs, optionally after a Bayesian search.

    python LGBM.py --json json/LGBM.json [--optimize]
"""

from src.cli import run_cli, script_parser
from src.config import LGBM_SEARCH_SPACE

EXAMPLES = """examples:
  python LGBM.py --json json/LGBM.json               train with the JSON's parameters, evaluate
  python LGBM.py --json json/LGBM.json --optimize    Bayesian search first, then train the best

Training stops early when the validation AUC has not improved for early_stopping_round rounds.
--optimize searches {space}
with init_points random and n_iter guided points (JSON), each scored by the mean AUC of a
cv_folds-fold lgb.cv on the training split; every point is saved to search_history.csv.
Outputs (results_path/LGBM_<time>/): model.txt, params.json, boosting.csv, predictions.csv,
metrics.json, importance.csv, importance_distribution.png, and a row in results_path/results.csv.
""".format(space=", ".join(f"{k} [{v[0]}, {v[1]}]" for k, v in LGBM_SEARCH_SPACE.items()))


DESCRIPTION = ("LightGBM binary classifier on the Sei outputs written by "
               "Preprocess_data_to_numpy.py (features_path + feature_set in the JSON); trains on "
               "the train split, stops early on the valid split, evaluates on the test split.")


def main(argv=None):
    parser = script_parser("LGBM.py", DESCRIPTION, EXAMPLES)
    parser.add_argument("--json", default="json/LGBM.json", metavar="PATH",
                        help="JSON config (feature files, LightGBM parameters, search settings)")
    parser.add_argument("-o", "--optimize", action="store_true",
                        help="Bayesian search of the hyper-parameters (cv_folds-fold lgb.cv AUC) "
                             "before training with the best ones")
    args = parser.parse_args(argv)

    def work():
        from src.config import LGBMConfig, load_config
        from src.train.boosting import run_lgbm

        run_lgbm(load_config(args.json, LGBMConfig), args.json, args.optimize)

    run_cli(work, single_process="LGBM.py")


if __name__ == "__main__":
    main()
