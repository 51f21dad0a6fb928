"""Which pre-training recipe? Short runs of a small encoder, one change at a time.

Every run sees the same number of patient pairs (`--pairs`), so a larger
batch gets fewer steps; each is scored on PTB-XL's fold 9, the fold that
chooses (`pclr_keras.folds`: fold 10 is never looked at here), by NT-Xent
loss, pair accuracy and same-patient retrieval (top-1 / top-5 nearest
neighbour by cosine among the fold-9 ECGs), the label-free signals PCLR
optimises. `--seeds 0,1,2` repeats every run with other weights and data
order, so the table can say which differences exceed seed-to-seed noise.
Runs are resumable folders under `--out`: re-running the script skips the
training of finished ones and scores their saved encoders again, so it can
be stopped and started again, and re-scores old runs on a new held-out set.

    python benchmarks/ablate_pretraining.py --data ptbxl_full_tensors --out runs/ablations \
        --seeds 0,1,2

prints a Markdown table (mean and standard deviation over seeds) and writes
`ablations.csv` (one row per run and seed) in `--out`.
"""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pclr_keras.evaluation.results import provenance, write_results

from pclr_keras.training.tensors import TensorizedECGs
from pclr_keras.demo import DEMO_ENCODER
from pclr_keras.evaluation.retrieval import retrieval
from pclr_keras.folds import SELECTION_FOLD, TRAIN_FOLDS, guard_selection
from pclr_keras.training import PretrainConfig, Pretrainer

BASELINE = dict(batch_size=32, learning_rate=1e-3, temperature=0.1, augment=False,
                extra_negatives=0, single_ecg_pairs=0)
# One change from the baseline each (name -> overrides).
VARIANTS = {
    "baseline (batch 32, lr 1e-3, T 0.1)": {},
    "batch 64": dict(batch_size=64),
    "batch 16": dict(batch_size=16),
    "lr 3e-3": dict(learning_rate=3e-3),
    "lr 3e-4": dict(learning_rate=3e-4),
    "temperature 0.2": dict(temperature=0.2),
    "augmented pairs": dict(augment=True),
    # Second round, around the best of the first.
    "lr 1e-2": dict(learning_rate=1e-2),
    "lr 3e-3, batch 16": dict(learning_rate=3e-3, batch_size=16),
    # ECGs of one-ECG patients (most of PTB-XL) as negatives only, 32 per step.
    "single-ECG negatives": dict(extra_negatives=32),
    "lr 3e-3, single-ECG negatives": dict(learning_rate=3e-3, extra_negatives=32),
    # The same ECGs as pairs of two augmentations of themselves: positives too.
    "single-ECG pairs": dict(single_ecg_pairs=32),
}


def held_out_scores(encoder, ecgs, batch_size=256):
    """Retrieval top-1 / top-5 of an encoder on a `TensorizedECGs` set."""
    rows = np.arange(len(ecgs.labels))
    embeddings = np.concatenate([
        encoder.predict(ecgs.read_ecgs(rows[i:i + batch_size]), verbose=0)
        for i in range(0, len(rows), batch_size)])
    result = retrieval(embeddings, ecgs.labels["patient_id"].astype(str).to_numpy())
    return {"top1": result["top1"], "top5": result["top5"], "chance_top1": result["chance_top1"]}


def run_folder(out, name, seed):
    """A run's folder; seed 0 keeps the name runs had before seeds were repeated."""
    folder = Path(out) / name.split(" (")[0].replace(" ", "_")
    return folder if seed == 0 else folder.with_name(f"{folder.name}_seed{seed}")


def run(name, overrides, seed, args, train, held_out):
    """Trains (or resumes) one run and scores its encoder on `held_out`."""
    config = PretrainConfig(**{**BASELINE, **overrides},
                            steps=max(1, args.pairs // overrides.get("batch_size", 32)),
                            warmup_fraction=0.05, seed=seed, checkpoint_every=100,
                            steps_per_loop=10, encoder=DEMO_ENCODER)
    trainer = Pretrainer(config, train, run_folder(args.out, name, seed))
    trainer.fit(progress=False)
    # Scored here rather than read from history.json, which holds whatever held-out
    # set the run was trained beside: old runs are re-scored on today's.
    final = trainer.evaluate(held_out)
    return {"run": name, "seed": seed, "steps": config.steps, "batch": config.batch_size,
            "held_out_loss": final["loss"], "pair_accuracy": final["pair_accuracy"],
            **held_out_scores(trainer.encoder, held_out),
            "config": json.dumps({k: v for k, v in dataclasses.asdict(config).items()
                                  if k in BASELINE})}


def seed_summary(table):
    """Mean and standard deviation over seeds of every score, one row per recipe."""
    scores = ["held_out_loss", "pair_accuracy", "top1", "top5"]
    grouped = table.groupby("run", sort=False)
    summary = grouped[scores].agg(["mean", "std"])
    summary.columns = [f"{score}_{stat}" for score, stat in summary.columns]
    return summary.assign(seeds=grouped.size()).reset_index()


def markdown(summary):
    """The seed summary as a Markdown table: mean ± sd (sd left out for one seed)."""
    lines = ["| run | seeds | held-out loss | pair accuracy | top-1 | top-5 |", "|---|---|---|---|---|---|"]
    for row in summary.itertuples():
        cells = []
        for score in ("held_out_loss", "pair_accuracy", "top1", "top5"):
            mean, std = getattr(row, f"{score}_mean"), getattr(row, f"{score}_std")
            cells.append(f"{mean:.3f}" + ("" if pd.isna(std) else f" ± {std:.3f}"))
        lines.append(f"| {row.run} | {row.seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a `pclr tensorize` folder")
    parser.add_argument("--out", required=True, help="folder of the runs (re-run to resume)")
    parser.add_argument("--train", default=TRAIN_FOLDS,
                        help=f"query selecting training ECGs (default: {TRAIN_FOLDS!r})")
    parser.add_argument("--held-out", default=SELECTION_FOLD,
                        help=f"query selecting the ECGs that score the runs (default: "
                             f"{SELECTION_FOLD!r}; PTB-XL's fold 10 is refused)")
    parser.add_argument("--held-out-data", help="tensorized folder of the held-out ECGs "
                        "(default: --data), to compare training sets on one held-out set")
    parser.add_argument("--pairs", type=int, default=9600,
                        help="patient pairs each run sees (default: 300 steps of 32)")
    parser.add_argument("--only", action="append", help="run only these variants")
    parser.add_argument("--seeds", default="0",
                        help="comma-separated seeds, each a full repeat of every run (default: 0)")
    parser.add_argument("--results", help="also write every run and its provenance to this JSON")
    args = parser.parse_args()
    train = TensorizedECGs(args.data, label_filter=args.train)
    held_out = TensorizedECGs(args.held_out_data or args.data, label_filter=args.held_out)
    guard_selection(held_out.labels, "--held-out")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    rows = [run(name, overrides, seed, args, train, held_out)
            for name, overrides in VARIANTS.items() if not args.only or name in args.only
            for seed in seeds]
    table = pd.DataFrame(rows)
    table.to_csv(Path(args.out) / "ablations.csv", index=False)
    print(f"{len(train.pair_patients)} training patients with >= 2 ECGs, "
          f"{len(held_out.labels)} held-out ECGs ({args.held_out}); {args.pairs} pairs per run, "
          f"demo-size encoder, seeds {args.seeds}")
    print(markdown(seed_summary(table)))
    if args.results:
        about = provenance(ecg_ids=held_out.labels.ecg_id, seeds={"seeds": args.seeds},
                           settings={"train": args.train, "held_out": args.held_out,
                                     "pairs": args.pairs})
        figures = {"runs": table.to_dict("records"),
                   "summary": seed_summary(table).to_dict("records")}
        print(f"results -> {write_results(args.results, 'pretraining_ablations', figures, about)}")


if __name__ == "__main__":
    main()
