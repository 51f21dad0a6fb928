"""The PTB-XL community table: linear evaluation of frozen encoders, Strodthoff et al.'s protocol.

All PTB-XL ECGs at 100 Hz, train on folds 1-8 (1 %, 10 %, 100 % of them),
choose the regularisation on fold 9, macro AUROC on fold 10 with a 95 %
interval from 1,000 resamples of fold-10 patients over a fixed label set,
for the `superdiagnostic` and `all` statement sets
(`pclr_keras.evaluation.ptbxl`). Each encoder embeds every ECG once per
lead set (`<out>/<name>.parquet`, resumable), then the probes run.

    python benchmarks/ptbxl_protocol.py --data ptbxl_full_tensors \\
        --statements ptbxl/scp_statements.csv --out ptbxl_protocol/ \\
        --encoder "v0.3=pclr-ptbxl-v0.3" --encoder "random weights=random" \\
        --pair "v0.3:random weights" --retrieval --results results/ptbxl_linear.json

`--results FILE.json` writes every figure with its provenance
(`pclr_keras.evaluation.results`) and the per-ECG fold-10 scores beside it
(`FILE.scores.npz`); `benchmarks/cards.py` writes the cards from such
files. `--pair A:B` adds fold-10 differences A minus B with a paired
patient interval. `--retrieval` adds same-patient top-1 on fold 10 (every
fold-10 ECG in the gallery). `--lead-sets "12;limb;I"` embeds each encoder
with only those leads, the others zero (rows "NAME [I]"); an encoder
named "NAME [I]" is given lead I alone, whatever `--lead-sets` says.

`--precision float32,bfloat16` embeds with each encoder in each precision
(rows "NAME (bfloat16)") and prints how far the bfloat16 results are from
float32's.

`--choose` compares candidate encoders on fold 9 alone, the way a release
is chosen (`pclr_keras.folds`): fold 10 is dropped before any fit, and the
table (and `--results`) hold fold-9 macro AUROC (each at the
regularisation fold 9 prefers) and each candidate's difference from the
first `--encoder` (the bar, e.g. the current release) with a 95 % paired
interval over fold-9 patients. Judge only the chosen one on fold 10, once,
without `--choose`.

`--data` is a `pclr tensorize` folder of the whole PTB-XL at 100 Hz whose
`labels.csv` has `scp_codes`, `strat_fold` and `patient_id` (the manifest
`pclr datasets fetch ptbxl` writes has them). Prints Markdown tables beside
the published supervised results and writes `ptbxl_protocol.csv` in `--out`.
"""

import argparse
import re
from pathlib import Path

import pandas as pd

from pclr_keras.evaluation.experiment import representation_tables
from pclr_keras.evaluation.inputs import feature_columns, load_representation
from pclr_keras.evaluation.ptbxl.fit_cache import FitCache
from pclr_keras.evaluation.ptbxl.judging import judge_representations, retrieval_on_fold10
from pclr_keras.evaluation.ptbxl.protocol import (FRACTIONS, LABEL_SETS, compare_on_fold9,
                                                  statement_labels)
from pclr_keras.evaluation.results import provenance, write_results, write_scores
from pclr_keras.folds import TEST_FOLD_NUMBER
from pclr_keras.variants import parse_lead_set
from pclr_keras.weights.resolve import resolve_path, weights_sha256

# Strodthoff et al., "Deep Learning for ECG Analysis: Benchmarks and Insights
# from PTB-XL", IEEE JBHI 25(5), 2021 (leaderboard of
# github.com/helme/ecg_ptbxl_benchmarking): networks trained end to end on
# all of folds 1-8, fold 10 macro AUROC. Not linear evaluation: a ceiling.
LEADS_IN_NAME = re.compile(r"^(?P<model>.*) \[(?P<leads>[^\]]+)\]$")
PUBLISHED = {
    "superdiagnostic": [("resnet1d_wang, supervised end to end", 0.930),
                        ("xresnet1d101, supervised end to end", 0.928)],
    "all": [("inception1d, supervised end to end", 0.925),
            ("xresnet1d101, supervised end to end", 0.925)],
}


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="tensorized PTB-XL (all records, 100 Hz)")
    parser.add_argument("--statements", required=True, help="PTB-XL scp_statements.csv")
    parser.add_argument("--encoder", action="append", required=True,
                        help="NAME=PATH (ours or ml4h's, or a preset) or NAME=random, repeatable")
    parser.add_argument("--out", required=True, help="folder of the embeddings (resumable)")
    parser.add_argument("--label-sets", default=",".join(LABEL_SETS))
    parser.add_argument("--fractions", default=",".join(str(f) for f in FRACTIONS))
    parser.add_argument("--lead-sets", default="12",
                        help="';'-separated lead sets each encoder is given, the other leads "
                             "zero (default: 12), e.g. '12;limb;I,II;I'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-boot", type=int, default=1000, help="patient resamples per interval")
    parser.add_argument("--pair", action="append", default=[],
                        help="A:B, fold-10 difference of row A minus row B, paired (repeatable)")
    parser.add_argument("--retrieval", action="store_true",
                        help="also same-patient top-1 retrieval on fold 10")
    parser.add_argument("--results", help="write the figures and their provenance to this JSON")
    parser.add_argument("--fit-cache", help="folder of fitted probes reused across runs "
                                            "(default: <out>/fits; 'none' to refit)")
    parser.add_argument("--subgroups", action="store_true",
                        help="also score fold 10 by sex and by age band (<40, 40-65, >65)")
    parser.add_argument("--precision", default="float32",
                        help="comma-separated precisions the encoders compute in "
                             "(default: float32), e.g. float32,bfloat16")
    parser.add_argument("--choose", action="store_true",
                        help="fold 9 only, to choose between candidates (the first --encoder is "
                             "the bar the others are compared with): fold 10 is never read")
    args = parser.parse_args()
    if args.choose and (args.subgroups or args.retrieval or args.pair):
        parser.error("--subgroups, --retrieval and --pair score fold 10; not with --choose")
    return args


def row_name(name, lead_set, precision, precisions):
    """The table's name for one encoder, lead set and precision (named when several are run)."""
    return (name + ("" if lead_set == "12" else f" [{lead_set}]")
            + ("" if len(precisions) == 1 or precision == "float32" else f" ({precision})"))


def embed_all(args, encoders):
    """name -> representation table, for every encoder, lead set and precision.

    An encoder named "NAME [LEADS]" is given only those leads (its rows keep
    the name); the others are given each of `--lead-sets`.
    """
    tables = {}
    precisions = args.precision.split(",")
    for precision in precisions:
        for name, spec in encoders.items():
            fixed = LEADS_IN_NAME.match(name)
            base, lead_sets = ((fixed["model"], [fixed["leads"]]) if fixed
                               else (name, args.lead_sets.split(";")))
            for lead_set in lead_sets:
                folder = Path(args.out) / ("" if precision == "float32" else precision) / (
                    "" if lead_set == "12" else "leads_" + lead_set.replace(",", "+"))
                named = representation_tables(
                    args.data, folder, {base: spec}, handcrafted=False, seed=args.seed,
                    precision=precision,
                    leads_present=None if lead_set == "12" else parse_lead_set(lead_set))
                tables[row_name(base, lead_set, precision, precisions)] = named[base]
    return tables


def aligned_features(tables, labels):
    """(rows of `labels` every table embedded, name -> features aligned with them)."""
    representations = {name: load_representation(t).set_index("ecg_id")
                       for name, t in tables.items()}
    shared = set.intersection(*(set(r.index) for r in representations.values()))
    rows = labels[labels.ecg_id.isin(shared)].reset_index(drop=True)
    if len(rows) < len(labels):
        print(f"scoring the {len(rows)} ECGs every representation embedded", flush=True)
    return rows, {name: r.loc[rows.ecg_id, feature_columns(r)].to_numpy()
                  for name, r in representations.items()}


def fit_cache(args):
    """The fitted-probe cache the run reuses (`pclr_keras.evaluation.ptbxl.fit_cache`)."""
    folder = getattr(args, "fit_cache", None) or Path(args.out) / "fits"
    return None if str(folder) == "none" else FitCache(folder)


def weights_digests(encoders):
    """name -> {"weights_sha256"} of each encoder's file (None for random weights)."""
    return {name: {"weights_sha256": None if spec == "random" else
                   weights_sha256(resolve_path(spec))} for name, spec in encoders.items()}


def main():
    args = parse_arguments()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    encoders = dict(spec.split("=", 1) for spec in args.encoder)
    pairs = [tuple(pair.split(":", 1)) for pair in args.pair]
    labels = pd.read_csv(Path(args.data) / "labels.csv", dtype={"ecg_id": str})
    rows, features = aligned_features(embed_all(args, encoders), labels)
    statements = pd.read_csv(args.statements, index_col=0)
    fractions = tuple(float(f) for f in args.fractions.split(","))
    label_sets = args.label_sets.split(",")
    seen = rows[rows.strat_fold != TEST_FOLD_NUMBER] if args.choose else rows
    about = provenance(ecg_ids=seen.ecg_id, seeds={"seed": args.seed, "n_boot": args.n_boot},
                       weights=weights_digests(encoders),
                       settings={"precision": args.precision, "lead_sets": args.lead_sets})
    if args.choose:
        choose(features, rows, statements, label_sets, fractions, args, about)
        return
    figures, scores = judge_representations(
        features, rows, statements, label_sets=label_sets, fractions=fractions,
        seed=args.seed, n_boot=args.n_boot, pairs=pairs, subgroups=args.subgroups,
        fit_cache=fit_cache(args))
    if args.retrieval:
        figures["retrieval_fold10"] = retrieval_on_fold10(features, rows, n_boot=args.n_boot,
                                                          seed=args.seed)
    linear = pd.DataFrame(figures["linear"])
    linear.drop(columns="ci95").assign(ci_low=linear.ci95.str[0], ci_high=linear.ci95.str[1]) \
        .to_csv(Path(args.out) / "ptbxl_protocol.csv", index=False)
    print_tables(linear[linear.subgroup == "all"], label_sets, fractions)
    if args.subgroups:
        print_subgroups(linear[linear.subgroup != "all"], fractions)
    for precision in args.precision.split(",")[1:]:
        print_precision_gap(linear[linear.subgroup == "all"], encoders, precision)
    print_pairs_and_retrieval(figures)
    if args.results:
        path = write_results(args.results, "ptbxl_linear_fold10", figures, about)
        write_scores(path.with_suffix(".scores.npz"), rows.ecg_id,
                     {f"{name}__{key}": s for name, by_key in scores.items()
                      for key, (_, s) in by_key.items()})
        print(f"\nresults -> {path}")


def print_tables(table, label_sets, fractions):
    """The fold-10 table per label set, beside the published end-to-end results."""
    print("\nPTB-XL, 100 Hz, folds 1-8 / 9 / 10; macro AUROC on fold 10 [95 %, fold-10 "
          "patients resampled]; linear evaluation of frozen representations")
    for label_set in label_sets:
        part = table[table.label_set == label_set]
        print(f"\n{label_set} ({part.labels.iloc[0]} labels scored on fold 10)\n")
        print("| representation | " + " | ".join(
            f"{f:g} ({n} ECGs)" for f, n in part.groupby("fraction").train_ecgs.first().items())
            + " |")
        print("|---|" + "---|" * len(fractions))
        for name, rows in part.groupby("representation", sort=False):
            print(f"| {name} | " + " | ".join(
                f"{r.auroc:.3f} [{r.ci95[0]:.3f}, {r.ci95[1]:.3f}]"
                for r in rows.sort_values("fraction").itertuples()) + " |")
        for name, value in PUBLISHED[label_set]:
            print(f"| {name} (published) | " + " | ".join(
                "—" if f < 1 else f"{value:.3f}" for f in sorted(fractions)) + " |")


def print_pairs_and_retrieval(figures):
    """Paired fold-10 differences and retrieval, when asked for."""
    for p in figures["paired"]:
        print(f"{p['representation']} minus {p['baseline']}, {p['label_set']}, "
              f"{p['fraction']:g}: {p['difference']:+.4f} "
              f"[{p['ci95'][0]:+.4f}, {p['ci95'][1]:+.4f}]")
    for r in figures.get("retrieval_fold10", []):
        print(f"retrieval top-1, fold 10, {r['representation']}: {r['top1']:.3f} "
              f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] ({r['n_queries']} queries of "
              f"{r['n_query_patients']} patients, gallery {r['gallery']})")


def choose(features, rows, statements, label_sets, fractions, args, about):
    """Fold-9 comparison of the candidates with the first one."""
    results = []
    for label_set in label_sets:
        y = statement_labels(rows.scp_codes, statements, label_set).to_numpy()
        result = compare_on_fold9(features, y, rows.strat_fold.to_numpy(),
                                  baseline=next(iter(features)),
                                  patients=rows.patient_id.to_numpy(), fractions=fractions,
                                  seed=args.seed, n_boot=args.n_boot, fit_cache=fit_cache(args))
        results.append(result.assign(label_set=label_set, labels=y.shape[1]))
    everything = pd.concat(results, ignore_index=True)
    everything.to_csv(Path(args.out) / "ptbxl_protocol_fold9.csv", index=False)
    print_fold9(everything, label_sets, fractions)
    if args.results:
        figures = {"fold9": [dict(r._asdict()) for r in everything.drop(columns="Index",
                                                                         errors="ignore")
                             .itertuples(index=False)]}
        print(f"\nresults -> {write_results(args.results, 'ptbxl_linear_fold9', figures, about)}")


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
            print(f"| {name} | {r.label_set} | {r.fraction:g} | {r.auroc:.4f} | "
                  f"{r.auroc_other:.4f} | {r.auroc_other - r.auroc:+.4f} |")


def print_subgroups(table, fractions):
    """Fold-10 macro AUROC within each subgroup, one table per label set."""
    for label_set, part in table.groupby("label_set", sort=False):
        print(f"\n{label_set} by subgroup, fold 10 [95 % bootstrap]\n")
        print("| representation | subgroup | fold-10 ECGs | "
              + " | ".join(f"{f:g}" for f in fractions) + " |")
        print("|---|---|---|" + "---|" * len(fractions))
        for (name, subgroup), rows in part.groupby(["representation", "subgroup"], sort=False):
            print(f"| {name} | {subgroup} | {rows.test_ecgs.iloc[0]} | " + " | ".join(
                f"{r.auroc:.3f} [{r.ci95[0]:.3f}, {r.ci95[1]:.3f}]"
                for r in rows.sort_values("fraction").itertuples()) + " |")


if __name__ == "__main__":
    main()
