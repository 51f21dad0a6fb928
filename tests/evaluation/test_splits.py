"""Cross-validation folds inside a training subset: grouped by patient, stratified."""

import numpy as np

from pclr_keras.evaluation.splits import cv_splits


def test_cv_splits_are_grouped_stratified_and_shrink_with_few_positives():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 3)
    y = np.zeros(120)
    y[[0, 1, 2, 30, 31, 60]] = 1                      # 3 patients with positives
    folds = cv_splits(y, groups, "binary", n_splits=5, seed=0)
    assert 2 <= len(folds) <= 3
    for train, validation in folds:
        assert not set(groups[train]) & set(groups[validation])
        assert set(y[train]) == {0.0, 1.0}
    continuous = cv_splits(rng.normal(size=120), groups, "continuous", n_splits=5)
    assert len(continuous) == 5
    assert sorted(np.concatenate([v for _, v in continuous])) == list(range(120))
    assert cv_splits(np.r_[np.ones(1), np.zeros(9)], np.arange(10), "binary") == []

