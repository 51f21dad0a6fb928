"""Who trains and who is held out, always by patient.

Two ECGs of one patient look alike far more than two patients' ECGs do; a
patient on both sides of a split would flatter every representation. The
held-out set, the cross-validation folds inside a training subset, and the
check that refuses a leaky split all live here.
"""

import inspect

import numpy as np
import pandas as pd

from pclr_keras.evaluation.inputs import ID, PATIENT, as_ids


def held_out_mask(test, frame, keep, seed):
    """Boolean mask over the rows of `frame` (aligned labels) for the held-out set.

    `test` is None or a float (that share of the patients among the `keep`
    rows, by `GroupShuffleSplit`), a query on the labels, a boolean Series
    or array aligned with the original labels (`frame`'s `_index` / `_row`
    columns), or a list of `ecg_id`s.
    """
    if test is None or isinstance(test, float):
        from sklearn.model_selection import GroupShuffleSplit

        split = GroupShuffleSplit(n_splits=1, test_size=0.2 if test is None else test,
                                  random_state=seed)
        kept = np.flatnonzero(keep)
        _, test_rows = next(split.split(kept, groups=frame[PATIENT].to_numpy()[kept]))
        mask = np.zeros(len(frame), bool)
        mask[kept[test_rows]] = True
        return mask
    if isinstance(test, str):
        return frame.index.isin(frame.query(test).index)
    if isinstance(test, pd.Series) and test.dtype == bool:
        return test.reindex(frame["_index"], fill_value=False).to_numpy(bool)
    values = np.asarray(test)
    if values.dtype == bool:
        return values[frame["_row"].to_numpy()]
    return np.isin(frame[ID].to_numpy(), as_ids(values))


def cv_splits(y, groups, task, n_splits=5, seed=0):
    """Cross-validation folds grouped by patient, stratified for a binary target.

    Args:
        y: array (n,) of the subset's targets.
        groups: array (n,) of patient ids.
        task: "binary" or "continuous".
        n_splits: int. At most this many folds: fewer when there are fewer
            patients or (binary) fewer patients with the rarer class.
        seed: int.

    Returns:
        list of (train rows, validation rows), no patient on both sides and
        (binary) both classes in every training part; empty if impossible.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    groups = np.asarray(groups)
    n_groups = len(np.unique(groups))
    if task == "binary":   # at most one fold per patient of the rarer class
        n_splits = min(n_splits, *(len(np.unique(groups[y == c])) for c in (0, 1)))
    else:
        n_splits = min(n_splits, n_groups)
    for k in range(n_splits, 1, -1):
        if task == "binary":
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            folds = list(splitter.split(np.zeros(len(y)), y, groups))
            if not all(len(np.unique(y[train])) == 2 for train, _ in folds):
                continue
        else:
            shuffle = "shuffle" in inspect.signature(GroupKFold).parameters
            splitter = GroupKFold(n_splits=k, **(dict(shuffle=True, random_state=seed)
                                                 if shuffle else {}))
            folds = list(splitter.split(np.zeros(len(y)), y, groups))
        for train, validation in folds:
            assert not set(groups[train]) & set(groups[validation]), "a patient in two folds"
        return folds
    return []


def check_disjoint(train_patients, test_patients, what):
    """Raises `ValueError` when a patient has ECGs on both sides of `what`."""
    shared = set(train_patients) & set(test_patients)
    if shared:
        raise ValueError(f"{len(shared)} patients have ECGs on both sides of {what} (e.g. "
                         f"{sorted(shared)[:3]}); split by patient so none does")
