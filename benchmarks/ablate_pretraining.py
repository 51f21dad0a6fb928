"""Which pre-training recipe? Short runs of a small encoder, one change at a time.

Every run sees the same number of patient pairs (`--pairs`), so a larger
batch gets fewer steps; each is scored on held-out patients by NT-Xent loss,
pair accuracy and same-patient retrieval (top-1 / top-5 nearest neighbour by
cosine among the held-out ECGs), the label-free signals PCLR optimises.
Runs are resumable folders under `--out`: re-running the script skips the
finished ones, so it can be stopped and started again.

    python benchmarks/ablate_pretraining.py --data ptbxl_full_tensors --out runs/ablations

prints a Markdown table and writes `ablations.csv` in `--out`.
"""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pclr_keras.data import TensorizedECGs
from pclr_keras.demo import DEMO_ENCODER
from pclr_keras.evaluate import retrieval
from pclr_keras.training import PretrainConfig, Pretrainer

BASELINE = dict(batch_size=32, learning_rate=1e-3, temperature=0.1, augment=False,
                extra_negatives=0)
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
}


def held_out_scores(encoder, ecgs, batch_size=256):
    """Retrieval top-1 / top-5 of an encoder on a `TensorizedECGs` set."""
    rows = np.arange(len(ecgs.labels))
    embeddings = np.concatenate([
        encoder.predict(ecgs.read_ecgs(rows[i:i + batch_size]), verbose=0)
        for i in range(0, len(rows), batch_size)])
    result = retrieval(embeddings, ecgs.labels["patient_id"].astype(str).to_numpy())
    return {"top1": result["top1"], "top5": result["top5"], "chance_top1": result["chance_top1"]}


def run(name, overrides, args, train, held_out):
    config = PretrainConfig(**{**BASELINE, **overrides},
                            steps=max(1, args.pairs // overrides.get("batch_size", 32)),
                            warmup_fraction=0.05, seed=args.seed, checkpoint_every=100,
                            steps_per_loop=10, encoder=DEMO_ENCODER)
    folder = Path(args.out) / name.split(" (")[0].replace(" ", "_")
    trainer = Pretrainer(config, train, folder, validation=held_out)
    result = trainer.fit(progress=False)
    final = result["validation"][-1]
    return {"run": name, "steps": config.steps, "batch": config.batch_size,
            "held_out_loss": final["loss"], "pair_accuracy": final["pair_accuracy"],
            **held_out_scores(trainer.encoder, held_out),
            "config": json.dumps({k: v for k, v in dataclasses.asdict(config).items()
                                  if k in BASELINE})}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a `pclr tensorize` folder")
    parser.add_argument("--out", required=True, help="folder of the runs (re-run to resume)")
    parser.add_argument("--train", default="strat_fold <= 8")
    parser.add_argument("--held-out", default="strat_fold >= 9")
    parser.add_argument("--held-out-data", help="tensorized folder of the held-out ECGs "
                        "(default: --data), to compare training sets on one held-out set")
    parser.add_argument("--pairs", type=int, default=9600,
                        help="patient pairs each run sees (default: 300 steps of 32)")
    parser.add_argument("--only", action="append", help="run only these variants")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = TensorizedECGs(args.data, label_filter=args.train)
    held_out = TensorizedECGs(args.held_out_data or args.data, label_filter=args.held_out)
    rows = [run(name, overrides, args, train, held_out)
            for name, overrides in VARIANTS.items() if not args.only or name in args.only]
    table = pd.DataFrame(rows)
    table.to_csv(Path(args.out) / "ablations.csv", index=False)
    print(f"{len(train.pair_patients)} training patients with >= 2 ECGs, "
          f"{len(held_out.labels)} held-out ECGs; {args.pairs} pairs per run, demo-size encoder")
    shown = table.drop(columns="config")
    print("| " + " | ".join(shown.columns) + " |")
    print("|" + "---|" * len(shown.columns))
    for _, row in shown.iterrows():
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v)
                                for v in row) + " |")


if __name__ == "__main__":
    main()
