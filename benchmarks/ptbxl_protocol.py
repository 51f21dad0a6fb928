"""The PTB-XL community table: linear evaluation of frozen encoders, Strodthoff et al.'s protocol.

All PTB-XL ECGs at 100 Hz, train on folds 1-8 (1 %, 10 %, 100 % of them),
choose the regularisation on fold 9, macro AUROC on fold 10 with a 95 %
bootstrap interval over test ECGs, for the `superdiagnostic` and `all`
statement sets (`pclr_keras.ptbxl_protocol`). Each encoder embeds every ECG
once (`<out>/<name>.parquet`, resumable), then the probes run.

    python benchmarks/ptbxl_protocol.py --data ptbxl_full_tensors \\
        --statements ptbxl/scp_statements.csv --out ptbxl_protocol/ \\
        --encoder "PCLR (released)=model_zoo/PCLR/PCLR.h5" --encoder "random weights=random"

`--precision float32,bfloat16` embeds with each encoder in each precision
(rows "NAME (bfloat16)") and prints how far the bfloat16 results are from
float32's.

`--choose` compares candidate encoders on fold 9 alone, the way a release
is chosen (`pclr_keras.folds`): fold 10 is dropped before any fit, and the
table and `ptbxl_protocol_fold9.csv` hold fold-9 macro AUROC (each at the
regularisation fold 9 prefers) and each candidate's difference from the
first `--encoder` (the bar, e.g. the current release) with a 95 % paired
bootstrap interval over fold-9 ECGs. Judge only the chosen one on fold 10,
once, without `--choose`.

`--data` is a `pclr tensorize` folder of the whole PTB-XL at 100 Hz whose
`labels.csv` has `scp_codes` and `strat_fold` (the manifest `pclr datasets
fetch ptbxl` writes has both). Prints a Markdown table beside the
published supervised results and writes `ptbxl_protocol.csv` in `--out`.
"""

import argparse
from pathlib import Path

import pandas as pd

from pclr_keras.evaluation.inputs import feature_columns, load_representation
from pclr_keras.evaluation.experiment import representation_tables
from pclr_keras.evaluation.ptbxl.protocol import (
    FRACTIONS,
    LABEL_SETS,
    compare_on_fold9,
    linear_evaluation,
    ptbxl_subgroups,
    statement_labels)

# Strodthoff et al., "Deep Learning for ECG Analysis: Benchmarks and Insights
# from PTB-XL", IEEE JBHI 25(5), 2021 (leaderboard of
# github.com/helme/ecg_ptbxl_benchmarking): networks trained end to end on
# all of folds 1-8, fold 10 macro AUROC. Not linear evaluation: a ceiling.
PUBLISHED = {
    "superdiagnostic": [("resnet1d_wang, supervised end to end", 0.930),
                        ("xresnet1d101, supervised end to end", 0.928)],
    "all": [("inception1d, supervised end to end", 0.925),
            ("xresnet1d101, supervised end to end", 0.925)],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="tensorized PTB-XL (all records, 100 Hz)")
    parser.add_argument("--statements", required=True, help="PTB-XL scp_statements.csv")
    parser.add_argument("--encoder", action="append", required=True,
                        help="NAME=PATH (ours or ml4h's) or NAME=random, repeatable")
    parser.add_argument("--out", required=True)
    parser.add_argument("--label-sets", default=",".join(LABEL_SETS))
    parser.add_argument("--fractions", default=",".join(str(f) for f in FRACTIONS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subgroups", action="store_true",
                        help="also score fold 10 by sex and by age band (<40, 40-65, >65)")
    parser.add_argument("--precision", default="float32",
                        help="comma-separated precisions the encoders compute in "
                             "(default: float32), e.g. float32,bfloat16")
    parser.add_argument("--choose", action="store_true",
                        help="fold 9 only, to choose between candidates (the first --encoder is "
                             "the bar the others are compared with): fold 10 is never read")
    args = parser.parse_args()
    if args.choose and args.subgroups:
        parser.error("--subgroups scores fold 10; it cannot go with --choose")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    encoders = dict(spec.split("=", 1) for spec in args.encoder)
    precisions = args.precision.split(",")
    tables = {}
    for precision in precisions:
        folder = out if precision == "float32" else out / precision
        named = representation_tables(args.data, folder, encoders, handcrafted=False,
                                      seed=args.seed, precision=precision)
        tables.update({name if precision == "float32" else f"{name} ({precision})": table
                       for name, table in named.items()})
    labels = pd.read_csv(Path(args.data) / "labels.csv", dtype={"ecg_id": str})
    statements = pd.read_csv(args.statements, index_col=0)
    fractions = tuple(float(f) for f in args.fractions.split(","))
    label_sets = args.label_sets.split(",")
    if args.choose:
        choose(tables, labels, statements, label_sets, fractions, args.seed, out)
        return
    results = []
    for name, table in tables.items():
        representation = load_representation(table).set_index("ecg_id")
        rows = labels[labels.ecg_id.isin(representation.index)]
        features = representation.loc[rows.ecg_id, feature_columns(representation)].to_numpy()
        for label_set in label_sets:
            y = statement_labels(rows.scp_codes, statements, label_set).to_numpy()
            result = linear_evaluation(
                features, y, rows.strat_fold.to_numpy(), fractions=fractions, seed=args.seed,
                subgroups=ptbxl_subgroups(rows) if args.subgroups else None)
            results.append(result.assign(representation=name, label_set=label_set,
                                         labels=y.shape[1]))
            print(f"{name}, {label_set}, fold 10: " + ", ".join(
                f"{r.fraction:g}: {r.test_auroc:.3f}"
                for r in result.drop_duplicates("fraction").itertuples()), flush=True)
    everything = pd.concat(results, ignore_index=True)
    everything.to_csv(out / "ptbxl_protocol.csv", index=False)
    table = everything[everything.subgroup == "all"]

    print("\nPTB-XL, 100 Hz, folds 1-8 / 9 / 10; macro AUROC on fold 10 [95 % bootstrap]; "
          "linear evaluation of frozen representations")
    for label_set in label_sets:
        part = table[table.label_set == label_set]
        print(f"\n{label_set} ({part.labels.iloc[0]} labels, "
              f"{part.test_labels.min()}-{part.test_labels.max()} scored on fold 10)\n")
        print("| representation | " + " | ".join(f"{f:g} ({n} ECGs)" for f, n in
                                                 part.groupby("fraction").train_ecgs.first().items())
              + " |")
        print("|---|" + "---|" * len(fractions))
        for name, rows in part.groupby("representation", sort=False):
            print(f"| {name} | " + " | ".join(
                f"{r.test_auroc:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
                for r in rows.sort_values("fraction").itertuples()) + " |")
        for name, value in PUBLISHED[label_set]:
            print(f"| {name} (published) | " + " | ".join(
                "—" if f < 1 else f"{value:.3f}" for f in sorted(fractions)) + " |")
    if args.subgroups:
        print_subgroups(everything[everything.subgroup != "all"], fractions)
    for precision in precisions:
        if precision != "float32" and "float32" in precisions:
            print_precision_gap(table, encoders, precision)


def choose(tables, labels, statements, label_sets, fractions, seed, out):
    """Fold-9 comparison of the candidates with the first one, on the ECGs all of them embedded."""
    representations = {name: load_representation(table).set_index("ecg_id")
                       for name, table in tables.items()}
    embedded = [set(r.index) for r in representations.values()]
    shared = set.intersection(*embedded)
    rows = labels[labels.ecg_id.isin(shared)]
    if len(set.union(*embedded)) > len(shared):
        print(f"comparing on the {len(rows)} ECGs every candidate embedded", flush=True)
    candidates = {name: r.loc[rows.ecg_id, feature_columns(r)].to_numpy()
                  for name, r in representations.items()}
    results = []
    for label_set in label_sets:
        y = statement_labels(rows.scp_codes, statements, label_set).to_numpy()
        result = compare_on_fold9(candidates, y, rows.strat_fold.to_numpy(),
                                  baseline=next(iter(candidates)), fractions=fractions, seed=seed)
        results.append(result.assign(label_set=label_set, labels=y.shape[1]))
    everything = pd.concat(results, ignore_index=True)
    everything.to_csv(out / "ptbxl_protocol_fold9.csv", index=False)
    print_fold9(everything, label_sets, fractions)


def print_fold9(table, label_sets, fractions):
    """Fold-9 macro AUROC of every candidate and its paired difference from the bar."""
    print("\nPTB-XL, 100 Hz, trained on folds 1-8, macro AUROC on fold 9 (choosing; "
          "fold 10 not read); difference from the first row [95 % paired bootstrap]")
    for label_set in label_sets:
        part = table[table.label_set == label_set]
        print(f"\n{label_set}\n")
        print("| representation | " + " | ".join(f"{f:g}" for f in fractions) + " |")
        print("|---|" + "---|" * len(fractions))
        for name, rows in part.groupby("representation", sort=False):
            print(f"| {name} | " + " | ".join(
                f"{r.val_auroc:.4f}" if pd.isna(r.difference) else
                f"{r.val_auroc:.4f} ({r.difference:+.4f} [{r.diff_low:+.4f}, {r.diff_high:+.4f}])"
                for r in rows.sort_values("fraction").itertuples()) + " |")


def print_precision_gap(table, encoders, precision):
    """Fold-10 macro AUROC in `precision` minus float32's, per encoder, label set, fraction."""
    print(f"\n{precision} minus float32, fold-10 macro AUROC\n")
    print("| representation | label set | fraction | float32 | " + precision + " | difference |")
    print("|---|---|---|---|---|---|")
    for name in encoders:
        ours = table[table.representation == f"{name} ({precision})"]
        base = table[table.representation == name]
        merged = base.merge(ours, on=["label_set", "fraction"], suffixes=("", "_other"))
        for r in merged.itertuples():
            print(f"| {name} | {r.label_set} | {r.fraction:g} | {r.test_auroc:.4f} | "
                  f"{r.test_auroc_other:.4f} | {r.test_auroc_other - r.test_auroc:+.4f} |")


def print_subgroups(table, fractions):
    """Fold-10 macro AUROC within each subgroup, one table per label set."""
    for label_set, part in table.groupby("label_set", sort=False):
        print(f"\n{label_set} by subgroup, fold 10 [95 % bootstrap]\n")
        print("| representation | subgroup | fold-10 ECGs | "
              + " | ".join(f"{f:g}" for f in fractions) + " |")
        print("|---|---|---|" + "---|" * len(fractions))
        for (name, subgroup), rows in part.groupby(["representation", "subgroup"], sort=False):
            print(f"| {name} | {subgroup} | {rows.test_ecgs.iloc[0]} | " + " | ".join(
                f"{r.test_auroc:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
                for r in rows.sort_values("fraction").itertuples()) + " |")


if __name__ == "__main__":
    main()
