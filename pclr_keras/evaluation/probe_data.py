"""The ECGs one probe uses: ids, patients, targets, the two sides, the feature matrices.

Built once per target, so that every representation, label count and
repeat is fitted and scored on exactly the same ECGs.
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd

from pclr_keras.evaluation.inputs import ID, PATIENT, as_ids
from pclr_keras.evaluation.linear import fit_predict
from pclr_keras.evaluation.metrics import METRICS, metric
from pclr_keras.evaluation.splits import held_out_mask
from pclr_keras.folds import check_disjoint


def task_of(values, task):
    """(task, targets as float (n,), positive class or None) of a target column."""
    unique = pd.unique(values)
    if task == "auto":
        if len(unique) == 2:
            task = "binary"
        elif len(unique) > 2 and pd.api.types.is_numeric_dtype(values):
            task = "continuous"
        else:
            raise ValueError(f"cannot tell the task from {len(unique)} distinct values "
                             f"({list(unique[:5])}): a binary target needs exactly 2, a "
                             "continuous one numbers")
    if task == "binary":
        if len(unique) != 2:
            raise ValueError(f"a binary target needs exactly 2 values, got {list(unique[:5])}")
        positive = sorted(unique)[1]
        return task, (values == positive).astype(np.float64).to_numpy(), positive
    if task == "continuous":
        return task, pd.to_numeric(values).astype(np.float64).to_numpy(), None
    raise ValueError(f"task must be 'auto', 'binary' or 'continuous', got {task!r}")


def aligned_labels(labels, target, tables):
    """The labels with `ecg_id` and `patient_id` as str (patients from a table if the
    labels have none), checked against the tables; `_index`/`_row` keep the original rows."""
    frame = labels.assign(_index=labels.index).reset_index(drop=True).assign(
        _row=np.arange(len(labels)))
    frame[ID] = as_ids(frame[ID])
    if frame[ID].duplicated().any():
        raise ValueError(f"duplicated ecg_id in the labels, e.g. "
                         f"{frame[ID][frame[ID].duplicated()].iloc[0]!r}")
    if PATIENT not in frame.columns:
        source = next((t for t in tables.values() if PATIENT in t.columns), None)
        if source is None:
            raise ValueError("probe splits by patient: give `patient_id` in the labels or a "
                             "representation (use ecg_id as patient_id if each ECG is its own "
                             "patient)")
        frame = frame.merge(source[[ID, PATIENT]], on=ID, how="inner")
    frame[PATIENT] = as_ids(frame[PATIENT])
    for name, table in tables.items():
        if PATIENT in table.columns:
            both = frame[[ID, PATIENT]].merge(table[[ID, PATIENT]], on=ID)
            if (both[f"{PATIENT}_x"] != both[f"{PATIENT}_y"]).any():
                raise ValueError(f"representation {name!r} gives other patient ids than the "
                                 "labels for the same ecg_id")
    missing = frame[PATIENT].isin(["", "nan", "None"])
    if missing.any():
        warnings.warn(f"{int(missing.sum())} ECGs without patient_id are treated as patients "
                      "of their own")
        frame.loc[missing, PATIENT] = "?ecg:" + frame.loc[missing, ID]
    return frame


def _check_sides(task, y, train_side, test_rows, target, min_per_class):
    """Both sides non-empty; for a binary target, enough ECGs of each class."""
    if len(test_rows) == 0 or len(train_side) == 0:
        raise ValueError(f"the split leaves {len(train_side)} training and "
                         f"{len(test_rows)} held-out ECGs with the target")
    if task == "binary":
        for side, rows in (("training", train_side), ("held-out", test_rows)):
            counts = np.bincount(y[rows].astype(int), minlength=2)
            if counts.min() < (min_per_class if side == "training" else 1):
                raise ValueError(f"the {side} side has {counts.tolist()} ECGs of classes "
                                 f"0/1 of {target!r}")


@dataclasses.dataclass
class ProbeData:
    """The ECGs a probe uses: ids, patients, targets, the two sides, feature matrices."""

    task: str
    positive: object
    ids: np.ndarray
    patients: np.ndarray
    y: np.ndarray
    train_side: np.ndarray
    test_rows: np.ndarray
    matrices: dict

    @classmethod
    def of(cls, labels, target, tables, task, test, seed, min_per_class):
        """The ECGs with the target that every table has, split into the two sides."""
        frame = aligned_labels(labels, target, tables)
        keep = frame[target].notna().to_numpy() & ~frame[target].isin([""]).to_numpy()
        for table in tables.values():
            keep &= frame[ID].isin(table[ID]).to_numpy()
        test_mask = held_out_mask(test, frame, keep, seed)[keep]
        frame = frame[keep].reset_index(drop=True)
        task, y, positive = task_of(frame[target], task)
        ids, patients = frame[ID].to_numpy(), frame[PATIENT].to_numpy()
        train_side, test_rows = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
        check_disjoint(patients[train_side], patients[test_rows], "the held-out split")
        _check_sides(task, y, train_side, test_rows, target, min_per_class)
        matrices = {name: table.set_index(ID).loc[ids, [c for c in table.columns
                                                         if c not in (ID, PATIENT)]].to_numpy()
                    for name, table in tables.items()}
        return cls(task, positive, ids, patients, y, train_side, test_rows, matrices)

    def draw_subset(self, n, repeat, seed, min_per_class):
        """`n` training rows drawn at random (a binary subset needs `min_per_class` of
        each class: up to 100 draws), sorted; None if no draw had them."""
        rng = np.random.default_rng([seed, 1, n, repeat])
        for _ in range(100):
            subset = np.sort(rng.choice(self.train_side, size=n, replace=False))
            if self.task != "binary" or \
                    np.bincount(self.y[subset].astype(int), minlength=2).min() >= min_per_class:
                return subset
        return None

    def split_record(self, n, repeat, subset, folds):
        """What was fitted on what, for `ProbeResult.splits`."""
        return dict(n_labels=n, repeat=repeat, train_ecg_ids=self.ids[subset],
                    test_ecg_ids=self.ids[self.test_rows], train_patients=self.patients[subset],
                    test_patients=self.patients[self.test_rows], cv_folds=folds)

    def predict(self, representation, name, subset, folds, subset_seed, fitting):
        """(held-out predictions, chosen regularisation) of one representation."""
        if callable(representation):
            prediction = np.asarray(representation(
                self.ids[subset], self.y[subset], self.patients[subset],
                self.ids[self.test_rows], task=self.task, seed=subset_seed),
                np.float64).reshape(-1)
            return prediction, np.nan
        Cs, alphas, n_jobs, blas_threads = fitting
        return fit_predict(self.matrices[name], subset, self.test_rows, self.y, self.task,
                           folds, Cs, alphas, n_jobs, blas_threads)

    def score_rows(self, name, target, n, repeat, subset, prediction, regularization):
        """One `scores` row per metric of the task."""
        return [dict(representation=name, target=target, task=self.task, n_labels=n,
                     repeat=repeat, metric=key,
                     value=metric(key, self.y[self.test_rows], prediction),
                     regularization=regularization,
                     n_train_patients=len(np.unique(self.patients[subset])))
                for key in METRICS[self.task]]

    def n_test_patients(self):
        """Patients on the held-out side."""
        return len(np.unique(self.patients[self.test_rows]))
