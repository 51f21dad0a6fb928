"""`pclr demo`: the whole story in a few minutes on a CPU.

Tensorize the sample ECGs, pre-train a demo-size encoder with the PCLR
objective on the training patients, embed every ECG, probe each label at
several label counts against the same encoder with random weights and
hand-crafted features, score same-patient retrieval, print the table and
write the plot. On PTB-XL the split is PTB-XL's own: folds 1-8 train, fold 9
validates the pre-training run, and the probes are scored on folds 9-10.
Without `../shared/data` it uses the PTB-XL sample packaged with the wheel;
without that either, it says so and uses a synthetic cohort.
"""

from pathlib import Path

import keras
import pandas as pd

from pclr_keras.datasets.sample import SampleMissingError, write_sample
from pclr_keras.evaluation.experiment import PTBXL_TARGETS, run_experiment
from pclr_keras.folds import SELECTION_FOLD, TRAIN_FOLDS
from pclr_keras.models import build_encoder
from pclr_keras.synthetic import write_cohort
from pclr_keras.tensorize import read_manifest, tensorize
from pclr_keras.training import PretrainConfig, Pretrainer
from pclr_keras.training.tensors import TensorizedECGs

# Narrow enough to pre-train in about a minute on 2 CPU cores; same design.
DEMO_ENCODER = dict(stem_filters=16, unit_filters=(16, 24, 32, 64))
RELEASED_WEIGHTS = "pclr-ptbxl"  # packaged; pre-trained on PTB-XL folds 1-8 only


def _tensorize_sample(data, out, limit):
    """PTB-XL -> tensors (the folder given, else the packaged sample, else a synthetic
    cohort); with the train, validation and test queries."""
    data = Path(data)
    if not (data / "manifest.csv").exists():
        data = _packaged_sample(data, out) or data
    if (data / "manifest.csv").exists():
        inputs, excluded = _ptbxl_inputs(data, out, limit)
        source, train, validation, test = (f"PTB-XL sample in {data}", TRAIN_FOLDS,
                                           SELECTION_FOLD, "strat_fold >= 9")
    else:
        print(f"No PTB-XL sample at {data}: using a SYNTHETIC cohort instead "
              "(generated ECGs, not real data; numbers show the pipeline, not PCLR's value).")
        manifest = write_cohort(out / "synthetic_records", patients=limit or 160, seed=0)
        _add_split(manifest)
        inputs, excluded = read_manifest(manifest)
        source, train, validation, test = ("synthetic cohort", "split == 'train'",
                                           "split == 'test'", "split == 'test'")
    summary = tensorize(inputs, out / "tensors", planned_errors=excluded)
    return source, summary, train, validation, test


def _packaged_sample(data, out):
    """The PTB-XL sample packaged with the wheel, written into `out`; None if it has none."""
    try:
        written = write_sample(out / "ptbxl_sample")
    except SampleMissingError:
        return None
    print(f"No PTB-XL sample at {data}: using the {written['ecgs']} PTB-XL ECGs packaged "
          f"with pclr-keras, written to {written['folder']} (CC BY 4.0; see ATTRIBUTION.md "
          "there).")
    return written["folder"]


def _ptbxl_inputs(data, out, limit):
    """A PTB-XL manifest -> tensorize's inputs: `../shared/data/ptbxl`'s (paths in `path_lr`
    from its parent, PTB-XL 1.0.3's duplicates flagged) or one with a `path` column from
    `data` (`pclr datasets sample`, `pclr datasets fetch`)."""
    manifest = data / "manifest.csv"
    table = pd.read_csv(manifest)
    if limit:  # the first `limit` patients with the most ECGs, all their ECGs
        counts = table.groupby("patient_id", sort=True).size()
        keep = counts.sort_values(ascending=False, kind="stable").index[:limit]
        manifest = out / "manifest_subset.csv"
        table[table.patient_id.isin(keep)].to_csv(manifest, index=False)
    shared = "path_lr" in table
    return read_manifest(manifest, path_column="path_lr" if shared else "path",
                         path_root=data.parent if shared else data,
                         drop_if="in_v1_0_3 == False" if "in_v1_0_3" in table else None)


def _add_split(manifest):
    """Holds out the last fifth of the synthetic patients (a `split` column)."""
    table = pd.read_csv(manifest)
    patients = sorted(table.patient_id.unique())
    held_out = set(patients[int(0.8 * len(patients)):])
    table["split"] = ["test" if p in held_out else "train" for p in table.patient_id]
    table.to_csv(manifest, index=False)


def run_demo(data, out, *, steps=150, batch_size=32, limit=0, label_counts=(50, 250, 1000, 5000),
             repeats=3):
    """Runs the demo into `out`; returns the probe summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source, summary, train_query, validation_query, test_query = _tensorize_sample(
        data, out, limit)
    print(f"\n[1/3] tensorized the {source}: {summary['tensorized']} ECGs, "
          f"{summary['patients']} patients ({summary['patients_with_2_or_more_ecgs']} with >= 2)")

    train = TensorizedECGs(out / "tensors", label_filter=train_query)
    validation = TensorizedECGs(out / "tensors", label_filter=validation_query)
    batch_size = min(batch_size, len(train.pair_patients), len(validation.pair_patients))
    config = PretrainConfig(batch_size=batch_size, steps=steps, learning_rate=3e-3,
                            steps_per_loop=10, encoder=DEMO_ENCODER)
    result = Pretrainer(config, train, out / "pretraining", validation=validation).fit()
    before, after = result["validation"][0], result["validation"][-1]
    print(f"[2/3] pre-trained a demo-size encoder for {steps} steps of {batch_size} patient "
          f"pairs: held-out loss {before['loss']:.2f} -> {after['loss']:.2f}, pair accuracy "
          f"{before['pair_accuracy']:.2f} -> {after['pair_accuracy']:.2f}")

    keras.utils.set_random_seed(0)
    encoders = {"PCLR demo pre-training": out / "pretraining" / "PCLR.h5",
                "same encoder, random weights": build_encoder("pclr", **DEMO_ENCODER)}
    if source.startswith("PTB-XL"):
        encoders["PCLR released weights"] = RELEASED_WEIGHTS
    summary, retrieval = run_experiment(
        out / "tensors", out / "report", encoders, targets=PTBXL_TARGETS, test=test_query,
        label_counts=label_counts, repeats=repeats)
    print(f"[3/3] probes on the held-out patients ({source}):\n")
    print((out / "report" / "probe_results.md").read_text())
    print(f"report, plots and representations in {out / 'report'}")
    return summary
