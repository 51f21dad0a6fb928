"""PTB-XL's folds as the benchmark uses them, and the guard that keeps fold 10 a test set.

Strodthoff et al.'s protocol splits PTB-XL by patient into ten folds
(`strat_fold`): folds 1-8 train, fold 9 chooses (checkpoint, learning rate,
recipe, which model to release), fold 10 is scored once per released model.
A test score is only a test score if nothing was chosen by looking at it, so
every piece of code that chooses takes its split from here, and
`guard_selection` refuses a selection set that holds fold-10 ECGs.

Inside a training subset, folds are made by patient too (`cv_splits`), and
`check_disjoint` refuses any split that puts one patient on both sides.
"""

import inspect
import warnings

import numpy as np

FOLD_COLUMN = "strat_fold"
TRAIN_FOLDS = "strat_fold <= 8"
SELECTION_FOLD = "strat_fold == 9"
TEST_FOLD = "strat_fold == 10"
SELECTION_FOLD_NUMBER = 9
TEST_FOLD_NUMBER = 10


class SelectionOnTestFoldError(ValueError):
    """A choice was about to be made by looking at PTB-XL's test fold."""


def guard_selection(labels, what, *, allow_test_fold=False):
    """Refuses a set used to choose something when it holds fold-10 ECGs.

    Args:
        labels: DataFrame of the ECGs the choice looks at (e.g. the
            validation set of a training run).
        what: str. Names the set in the message, e.g. "the validation set
            (--val-filter)".
        allow_test_fold: bool. Warn instead of refusing, for a user who
            knowingly gives up a clean test score.

    Raises:
        SelectionOnTestFoldError: fold-10 ECGs in `labels`, not allowed.
    """
    if FOLD_COLUMN not in labels.columns:
        return
    count = int((labels[FOLD_COLUMN] == TEST_FOLD_NUMBER).sum())
    if not count:
        return
    message = (f"{what} holds {count} ECGs of fold 10, PTB-XL's test fold. Choices "
               f"(checkpoint, learning rate, recipe, release) are made on fold 9 "
               f"({SELECTION_FOLD!r}) so that fold 10 is scored once per released model "
               "and never chooses.")
    if not allow_test_fold:
        raise SelectionOnTestFoldError(
            message + " Select fold 9 instead, or pass --allow-test-fold (allow_test_fold=True) "
            "if fold 10 will not be reported as a test score.")
    warnings.warn(message + " Going on because the test fold was allowed: fold-10 scores of "
                  "anything chosen this way are not clean test scores.", stacklevel=2)


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
