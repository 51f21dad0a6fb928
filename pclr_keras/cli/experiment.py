"""`pclr experiment`: several encoders and features embedded, probed and reported together."""

import argparse
import json
from pathlib import Path

from pclr_keras.cli.arguments import add_precision_argument, add_subset_arguments, chosen_precision
from pclr_keras.cli.exits import check_inputs, usage
from pclr_keras.cli.specs import named_tables


def add_arguments(commands):
    """`pclr experiment` and its flags."""
    experiment = commands.add_parser(
        "experiment", help="embed with several encoders + features, probe, retrieval, report")
    experiment.add_argument("--data", required=True, help="a `pclr tensorize` folder")
    experiment.add_argument("--model", action="append", metavar="[NAME=]PATH",
                            help="an encoder to evaluate (a preset name or file), repeatable; "
                                 "unnamed: PCLR (randomly initialised weights are always "
                                 "added as a baseline)")
    for alias in ("--weights", "--encoder"):  # earlier names
        experiment.add_argument(alias, action="append", dest="model", help=argparse.SUPPRESS)
    experiment.add_argument("--extra", action="append",
                            help="NAME=FILE more representations (Parquet/CSV/NPZ), repeatable")
    experiment.add_argument("--test", default=None,
                            help="held-out set, a query on labels.csv such as "
                                 "\"strat_fold >= 9\" (default: that one when the data has "
                                 "strat_fold, else required)")
    add_subset_arguments(experiment, seed_help="seed of subsets and weights")
    _add_scratch_arguments(experiment)
    experiment.add_argument("--out", required=True, help="report folder")
    add_precision_argument(experiment)
    experiment.set_defaults(run=run)


def _add_scratch_arguments(parser):
    """--scratch: a network trained from scratch as one more baseline, and its settings."""
    parser.add_argument("--scratch", action="store_true",
                        help="add a network trained from scratch on each training subset "
                             "(slow on a CPU: minutes per subset)")
    parser.add_argument("--scratch-label-counts", default="50,250,1000",
                        help="label counts for --scratch")
    parser.add_argument("--scratch-repeats", type=int, default=1,
                        help="subsets per label count for --scratch")
    parser.add_argument("--scratch-config", default="{}",
                        help='ScratchConfig overrides as JSON, e.g. \'{"max_steps": 300}\'')


def run(args):
    from pclr_keras.evaluation.experiment import run_experiment

    check_inputs("experiment", [args.data])
    encoders = {**_named_models(args.model or []), "random weights": "random"}
    counts = tuple(int(c) for c in args.label_counts.split(","))
    scratch = _scratch_config(args) if args.scratch else None
    test = _held_out_query(args.data, args.test)
    run_experiment(args.data, args.out, encoders, test=test, label_counts=counts,
                   repeats=args.repeats, seed=args.seed,
                   extra=named_tables(args.extra or []), scratch=scratch,
                   scratch_label_counts=tuple(
                       int(c) for c in args.scratch_label_counts.split(",")),
                   scratch_repeats=args.scratch_repeats, precision=chosen_precision(args))
    print((Path(args.out) / "probe_results.md").read_text())


def _scratch_config(args):
    """`ScratchConfig` from --scratch-config; stops with its problem when it is refused."""
    from pclr_keras.training.scratch import ScratchConfig

    try:
        return ScratchConfig(**json.loads(args.scratch_config))
    except (TypeError, ValueError) as error:
        raise SystemExit(f"pclr experiment: --scratch-config: {error}") from None


def _named_models(specs):
    """["PCLR.h5", "mine=m.keras"] -> {"PCLR": "PCLR.h5", "mine": "m.keras"}: an unnamed
    model is "PCLR" (then, for more, its file's stem)."""
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = ("PCLR" if "PCLR" not in models else Path(spec).stem), spec
        models[name] = path
    return models


def _held_out_query(data, test):
    """--test, or PTB-XL's folds 9-10 when labels.csv has `strat_fold` (said aloud)."""
    import pandas as pd

    from pclr_keras.folds import FOLD_COLUMN
    from pclr_keras.tensorize import LABELS_FILE

    if test:
        return test
    columns = pd.read_csv(Path(data) / LABELS_FILE, nrows=0).columns
    if FOLD_COLUMN not in columns:
        usage("experiment", f"--test is required: {Path(data) / LABELS_FILE} has no "
              f"{FOLD_COLUMN} column to hold out (e.g. --test \"patient_id >= 'P5000'\")")
    query = f"{FOLD_COLUMN} >= 9"
    print(f"pclr experiment: held-out set --test \"{query}\" (the data has {FOLD_COLUMN}: "
          "PTB-XL's folds 9 and 10)")
    return query
