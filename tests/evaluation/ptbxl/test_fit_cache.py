"""Fits made while choosing on fold 9 are the fits judging on fold 10 reuses."""

import numpy as np
import pytest

import pclr_keras.evaluation.ptbxl.protocol as protocol
from pclr_keras.evaluation.ptbxl.fit_cache import FitCache


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(0)
    n = 1500
    signal = rng.random(n) < 0.4
    features = signal[:, None] + rng.normal(0, 1.0, (n, 5))
    labels = np.stack([signal, ~signal], axis=1).astype(np.int8)
    return features, labels, rng.integers(1, 11, n)


def test_judging_after_choosing_refits_nothing_and_gives_the_same_choice(cohort, tmp_path,
                                                                          monkeypatch):
    features, labels, folds = cohort
    cache = FitCache(tmp_path)
    chosen = protocol.compare_on_fold9({"a": features}, labels, folds, "a", fractions=(0.1, 1.0),
                                       n_boot=50, fit_cache=cache)
    fresh = protocol.judge_on_fold10(features, labels, folds, fractions=(0.1, 1.0))
    assert len(list(tmp_path.glob("*.npz"))) == 2 * len(protocol.C_GRID)

    def refit(*args, **kwargs):
        raise AssertionError("refitted although the fit was cached")
    monkeypatch.setattr(protocol, "fit_logistic", refit)
    judged = protocol.judge_on_fold10(features, labels, folds, fractions=(0.1, 1.0),
                                      fit_cache=cache)
    for (row, test, scores), (fresh_row, fresh_test, fresh_scores), choice in zip(
            judged, fresh, chosen.itertuples()):
        assert row == fresh_row and row["C"] == choice.C
        np.testing.assert_array_equal(test, fresh_test)
        np.testing.assert_allclose(scores, fresh_scores)


def test_other_training_data_is_another_key():
    x, y = np.ones((4, 2)), np.zeros((4, 1))
    assert FitCache.key(x, y, 0.1, None) != FitCache.key(x + 1e-9, y, 0.1, None)
    assert FitCache.key(x, y, 0.1, None) != FitCache.key(x, y, 1.0, None)
    start = (np.zeros((2, 1)), np.zeros(1))
    assert FitCache.key(x, y, 0.1, None) != FitCache.key(x, y, 0.1, start)
