"""The weighted probe metrics against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import (average_precision_score, mean_absolute_error, r2_score,
                             roc_auc_score)

from pclr_keras.evaluation.metrics import metric


def test_weighted_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.normal(size=300) + y, 1)        # ties included
    weights = rng.integers(0, 4, 300).astype(float)
    assert metric("auroc", y, score, weights) == pytest.approx(
        roc_auc_score(y, score, sample_weight=weights))
    assert metric("average_precision", y, score, weights) == pytest.approx(
        average_precision_score(y, score, sample_weight=weights))
    assert metric("average_precision", y, score) == pytest.approx(
        average_precision_score(y, score))
    target = rng.normal(size=300)
    prediction = target + rng.normal(size=300)
    assert metric("r2", target, prediction, weights) == pytest.approx(
        r2_score(target, prediction, sample_weight=weights))
    assert metric("mae", target, prediction, weights) == pytest.approx(
        mean_absolute_error(target, prediction, sample_weight=weights))
    batch = np.stack([weights, np.ones(300)])
    np.testing.assert_allclose(metric("auroc", y, score, batch),
                               [roc_auc_score(y, score, sample_weight=weights),
                                roc_auc_score(y, score)])

