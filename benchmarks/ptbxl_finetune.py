"""The PTB-XL benchmark fine-tuned end to end, from pre-trained and from random weights.

The column beside linear evaluation (`benchmarks/ptbxl_protocol.py`): the
whole encoder plus one sigmoid per statement, trained on 1 %, 10 % and
100 % of folds 1-8 with the same budget from every start, the epoch chosen
on fold 9, macro AUROC on fold 10 (`pclr_keras.ptbxl_finetune`). Several
seeds per fraction give the spread that a difference between starts must
exceed.

    python benchmarks/ptbxl_finetune.py --data ptbxl_full_tensors \\
        --statements scp_statements.csv --out ptbxl_finetune/ \\
        --start "PCLR=pclr-ptbxl" --start "random weights=random" \\
        --seeds 0,1,2 --full-seeds 0

Every run writes `<out>/runs/<start>_<label set>_<fraction>_seed<seed>.json`
when it ends, and saves itself after every epoch in a `.npz` beside it;
re-running skips the finished runs and continues an unfinished one from its
last epoch, so the script can be stopped and started again. Prints a
Markdown table beside the published supervised results and writes
`ptbxl_finetune.csv` (one row per run).
"""

import argparse
import dataclasses
import json
import re
from pathlib import Path

import keras
import pandas as pd

from pclr_keras.atomic import write_json
from pclr_keras.evaluation.ptbxl.finetune import FinetuneBudget, finetune_run
from pclr_keras.evaluation.ptbxl.protocol import statement_labels
from pclr_keras.evaluation.results import provenance, write_results
from pclr_keras.models import build_encoder
from pclr_keras.training.tensors import TensorizedECGs
from pclr_keras.weights.load import load_encoder

# Strodthoff et al., IEEE JBHI 25(5), 2021: networks trained end to end on
# all of folds 1-8 with their own budgets (not the same budget as here).
PUBLISHED = {
    "superdiagnostic": [("resnet1d_wang, supervised", 0.930),
                        ("xresnet1d101, supervised", 0.928)],
    "all": [("inception1d, supervised", 0.925), ("xresnet1d101, supervised", 0.925)],
}


def start_encoder(spec, variant, seed):
    """The starting encoder: `random` (same network, seeded) or a model / preset."""
    if spec == "random":
        keras.utils.set_random_seed(seed)
        return build_encoder(variant)
    return load_encoder(spec)


def run_name(start, label_set, fraction, seed):
    return re.sub(r"[^A-Za-z0-9.]+", "_", f"{start}_{label_set}_{fraction:g}_seed{seed}")


def seed_table(table):
    """Mean and standard deviation over seeds of the fold-10 AUROC, per start and fraction."""
    grouped = table.groupby(["label_set", "start", "fraction"], sort=False)
    return grouped.agg(train_ecgs=("train_ecgs", "first"), seeds=("seed", "size"),
                       test_auroc=("test_auroc", "mean"), test_sd=("test_auroc", "std"),
                       val_auroc=("val_auroc", "mean")).reset_index()


def print_table(summary, label_set, fractions):
    part = summary[summary.label_set == label_set]
    print(f"\n{label_set}: fine-tuned end to end, epoch chosen on fold 9, fold 10 macro AUROC "
          "(mean ± sd over seeds)\n")
    print("| start | " + " | ".join(f"{f:g}" for f in fractions) + " |")
    print("|---|" + "---|" * len(fractions))
    for start, rows in part.groupby("start", sort=False):
        cells = {r.fraction: f"{r.test_auroc:.3f}" + ("" if pd.isna(r.test_sd) else
                                                       f" ± {r.test_sd:.3f}") + f" ({r.seeds})"
                 for r in rows.itertuples()}
        print(f"| {start} | " + " | ".join(cells.get(f, "—") for f in fractions) + " |")
    for name, value in PUBLISHED[label_set]:
        print(f"| {name} (published, not the same budget) | "
              + " | ".join("—" if f < 1 else f"{value:.3f}" for f in fractions) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="tensorized PTB-XL (all records, 100 Hz)")
    parser.add_argument("--statements", required=True, help="PTB-XL scp_statements.csv")
    parser.add_argument("--start", action="append", required=True,
                        help="NAME=MODEL (a file, folder or preset) or NAME=random, repeatable")
    parser.add_argument("--out", required=True, help="output folder (re-run to resume)")
    parser.add_argument("--label-sets", default="superdiagnostic",
                        help="comma-separated: superdiagnostic, all (default: superdiagnostic)")
    parser.add_argument("--fractions", default="0.01,0.1,1",
                        help="shares of folds 1-8 to train on (default: 0.01,0.1,1)")
    parser.add_argument("--seeds", default="0,1,2",
                        help="seeds below the full training set (default: 0,1,2)")
    parser.add_argument("--full-seeds", default="0",
                        help="seeds at fraction 1, the costliest runs (default: 0)")
    parser.add_argument("--budget", default="{}",
                        help='FinetuneBudget overrides as JSON, e.g. \'{"max_epochs": 10}\'')
    parser.add_argument("--results", help="also write every run and its provenance to this JSON")
    args = parser.parse_args()

    budget = FinetuneBudget(**json.loads(args.budget))
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    ecgs = TensorizedECGs(args.data)
    statements = pd.read_csv(args.statements, index_col=0)
    fractions = [float(f) for f in args.fractions.split(",")]
    rows = []
    for label_set in args.label_sets.split(","):
        y = statement_labels(ecgs.labels.scp_codes, statements, label_set).to_numpy()
        for start, spec in (s.split("=", 1) for s in args.start):
            for fraction in fractions:
                seeds = args.full_seeds if fraction >= 1 else args.seeds
                for seed in (int(s) for s in seeds.split(",")):
                    path = out / "runs" / f"{run_name(start, label_set, fraction, seed)}.json"
                    if not path.exists():
                        name = f"{start}, {label_set}, {fraction:g}, seed {seed}"
                        checkpoint = path.with_suffix(".npz")
                        row = finetune_run(start_encoder(spec, ecgs.variant, seed), ecgs, y,
                                           ecgs.labels.strat_fold.to_numpy(), fraction, seed,
                                           budget, report=lambda line: print(
                                               f"  {name}, {line}", flush=True),
                                           checkpoint=checkpoint)
                        row.update(start=start, label_set=label_set,
                                   budget=dataclasses.asdict(budget))
                        write_json(path, row)
                        checkpoint.unlink()
                        print(f"{name}: fold 10 {row['test_auroc']:.3f}", flush=True)
                    rows.append(json.loads(path.read_text()))
    table = pd.DataFrame(rows)
    table.to_csv(out / "ptbxl_finetune.csv", index=False)
    summary = seed_table(table)
    for label_set in args.label_sets.split(","):
        print_table(summary, label_set, fractions)
    if args.results:
        about = provenance(ecg_ids=ecgs.labels.ecg_id, seeds={"seeds": args.seeds,
                                                              "full_seeds": args.full_seeds},
                           settings={"budget": dataclasses.asdict(budget)})
        figures = {"runs": table.to_dict("records")}
        print(f"results -> {write_results(args.results, 'ptbxl_finetune', figures, about)}")


if __name__ == "__main__":
    main()
