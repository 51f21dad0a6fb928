"""The label-count experiment: representations side by side, one command.

Embeds every tensorized ECG with each encoder given (PCLR weights, the same
architecture with random weights, any other), adds hand-crafted features,
then probes each target at each label count on a fixed held-out set and
scores same-patient retrieval on the held-out patients. Everything lands in
one folder: the representation tables, `probe_results.csv/.md`, one plot per
target and `retrieval.csv`.
"""

import dataclasses
import json
from pathlib import Path

import keras
import pandas as pd

from pclr_keras.embedding import embed
from pclr_keras.evaluation.features import handcrafted_from_tensors
from pclr_keras.evaluation.inputs import load_representation, superclass_targets
from pclr_keras.evaluation.probe import probe
from pclr_keras.evaluation.report import write_report
from pclr_keras.evaluation.retrieval import retrieval_table
from pclr_keras.models import build_encoder
from pclr_keras.training.scratch import ScratchBaseline
from pclr_keras.tensorize import LABELS_FILE

PTBXL_TARGETS = {"sex": "binary", "age": "continuous", "NORM": "binary", "MI": "binary",
                 "STTC": "binary", "CD": "binary", "HYP": "binary"}
SCRATCH = "supervised from scratch"


def experiment_labels(tensors):
    """`labels.csv` of a tensorized folder, with one 0/1 column per superclass."""
    labels = pd.read_csv(Path(tensors) / LABELS_FILE, dtype={"ecg_id": str, "patient_id": str})
    if "diagnostic_superclass" in labels:
        labels = labels.join(superclass_targets(labels))
    return labels


def representation_tables(tensors, out_dir, encoders, *, handcrafted=True, seed=0,
                          batch_size=64, progress=True, precision="float32",
                          leads_present=None):
    """Embeds the tensorized ECGs with each encoder; returns name -> table path/frame.

    Args:
        tensors: a `pclr tensorize` output folder.
        out_dir: Path. `<name>.parquet` per encoder goes here (resumable).
        encoders: dict name -> encoder path, Keras encoder, or "random" (the
            variant's architecture with seeded random weights).
        handcrafted: bool. Add per-lead amplitude, rhythm and spectral features.
        precision: str. What the encoders compute in (`pclr_keras.precision`).
        leads_present: None (all 12 leads) or the leads kept, the others
            zero-filled (`pclr embed --leads`).
    """
    tables = {}
    for name, encoder in encoders.items():
        if isinstance(encoder, str) and encoder == "random":
            keras.utils.set_random_seed(seed)
            encoder = build_encoder("pclr")
        out = Path(out_dir) / f"{_file_name(name)}.parquet"
        embed(encoder, tensors, out, batch_size=batch_size, progress=progress,
              precision=precision, leads_present=leads_present)
        tables[name] = out
    if handcrafted:
        tables["hand-crafted features"] = handcrafted_from_tensors(tensors, progress=progress)
    return tables


def _file_name(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def run_experiment(tensors, out_dir, encoders, *, targets=PTBXL_TARGETS,
                   test="strat_fold >= 9", label_counts=(50, 100, 250, 500, 1000, 2500, 5000),
                   repeats=5, seed=0, handcrafted=True, extra=None, scratch=None,
                   scratch_label_counts=(50, 250, 1000), scratch_repeats=1, progress=True,
                   precision="float32"):
    """Runs the whole comparison and writes the report.

    Args:
        tensors: a `pclr tensorize` output folder with the target columns.
        out_dir: str or Path.
        encoders: dict name -> encoder path, Keras encoder or "random".
        targets: dict column -> "binary" / "continuous".
        test: the held-out set (a query on `labels.csv`; PTB-XL: folds 9-10).
        label_counts, repeats, seed: as `pclr_keras.evaluation.probe.probe`.
        handcrafted: bool. Include the hand-crafted features baseline.
        extra: dict name -> representation table (or a `fit_predict`
            callable) to add.
        scratch: a `ScratchConfig` to add "supervised from scratch": the
            encoder architecture trained on each training subset's labels
            (see `pclr_keras.scratch`); None leaves it out.
        scratch_label_counts, scratch_repeats: its own, smaller grid (one
            network per subset is costly on a CPU). Its subsets are the
            linear probes' subsets of the same count and repeat.
        precision: str. What the encoders compute in (`pclr_keras.precision`);
            the scratch baseline trains in float32.

    Returns:
        (summary DataFrame, retrieval DataFrame).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = experiment_labels(tensors)
    tables = representation_tables(tensors, out_dir, encoders, handcrafted=handcrafted,
                                   seed=seed, progress=progress, precision=precision)
    tables.update(extra or {})
    grid = dict(label_counts=label_counts, repeats=repeats, test=test, seed=seed,
                progress=progress)
    scratch_run = None
    if scratch is not None:
        scratch_run = (*_scratch_baseline(tensors, scratch, out_dir, labels, tables),
                       dict(grid, label_counts=scratch_label_counts, repeats=scratch_repeats))
    summary = _probe_targets(tables, labels, targets, grid, scratch_run)
    held_out = labels.query(test).ecg_id if test else None
    tables_only = {k: v for k, v in tables.items() if not callable(v)}
    retrieval = retrieval_table(tables_only, ecg_ids=held_out)
    write_report(summary, out_dir, retrieval=retrieval)
    settings = dict(tensors=str(tensors), test=test, targets=targets,
                    label_counts=list(label_counts), repeats=repeats, seed=seed,
                    precision=precision, representations=list(tables) + (
                        [SCRATCH] if scratch is not None else []),
                    scratch=None if scratch is None else dict(
                        dataclasses.asdict(scratch), label_counts=list(scratch_label_counts),
                        repeats=scratch_repeats))
    (out_dir / "experiment.json").write_text(json.dumps(settings, indent=2))
    return summary, retrieval


def _scratch_baseline(tensors, scratch, out_dir, labels, tables):
    """(the scratch network's `fit_predict`, the labels of the ECGs every table has).

    The probes only use ECGs every table has; the scratch rows must see the same.
    """
    baseline = ScratchBaseline(tensors, scratch, cache_dir=out_dir / "scratch_predictions")
    common = set(labels.ecg_id)
    for table in tables.values():
        if not callable(table):
            common &= set(load_representation(table).ecg_id)
    return baseline, labels[labels.ecg_id.isin(common)]


def _probe_targets(tables, labels, targets, grid, scratch_run=None):
    """Probe summaries of every target with two classes or more, concatenated.

    `grid`: the `probe` options; `scratch_run`: None, or (baseline, its
    labels, its options), probed right after the tables on each target.
    """
    summaries = []
    for target, task in targets.items():
        if target not in labels or labels[target].nunique() < 2:
            continue
        summaries.append(probe(tables, labels, target, task=task, **grid).summary)
        if scratch_run is not None:
            baseline, scratch_labels, scratch_grid = scratch_run
            summaries.append(probe({SCRATCH: baseline}, scratch_labels, target, task=task,
                                   **scratch_grid).summary)
    return pd.concat(summaries, ignore_index=True)
