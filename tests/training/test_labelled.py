"""Labelled batches: one-hot binary targets, one ordered pass or shuffled, resumable, split."""

import numpy as np
import pytest

from pclr_keras.training.labelled import labelled_dataset
from tensor_folders import ecgs, folder  # noqa: F401 (fixtures)
from tensor_folders import C, L, fake_contexts, ids, take


def test_labelled_dataset_yields_ecgs_and_one_hot_binary_targets(ecgs):
    x = take(labelled_dataset(ecgs, 8, seed=1), 1)[0]  # auto-encoder: x only
    assert x.shape == (8, L, C)
    dataset = labelled_dataset(ecgs, 8, targets=("mi", "norm"), shuffle=False)
    batches = list(dataset.as_numpy_iterator())
    assert [len(x) for x, _ in batches] == [8] * 6 + [2]  # one pass, last batch partial
    rows = np.concatenate([ids(x) for x, _ in batches])
    np.testing.assert_array_equal(rows, np.arange(len(ecgs)))
    for name in ("mi", "norm"):
        y = np.concatenate([t[name] for _, t in batches])
        assert y.shape == (len(ecgs), 2) and y.dtype == np.float32
        np.testing.assert_array_equal(y.argmax(1), ecgs.labels[name].astype(int))
        np.testing.assert_array_equal(y.sum(1), 1)


def test_labelled_shuffle_is_infinite_reshuffled_resumable_and_splits_by_replica(ecgs):
    make = lambda **kw: labelled_dataset(ecgs, 10, targets=["mi"], seed=7, **kw)  # noqa: E731
    batches = take(make(), 10)  # 2 epochs of 5 steps and more
    first, second = (np.concatenate([ids(x) for x, _ in batches[e * 5:(e + 1) * 5]])
                     for e in (0, 1))
    assert len(set(first)) == 50 and sorted(first) != list(first)
    assert list(first) != list(second)
    resumed = take(make(start_step=7), 3)
    for a, b in zip(batches[7:], resumed, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    halves = [take(make(input_context=c), 4) for c in fake_contexts(2, 2)]
    for step in range(4):
        np.testing.assert_array_equal(
            np.concatenate([halves[0][step][0], halves[1][step][0]]), batches[step][0])


def test_targets_that_are_not_binary_filled_columns_are_clear_errors(ecgs):
    with pytest.raises(ValueError, match="not binary"):
        labelled_dataset(ecgs, 4, targets=["diagnosis"])
    with pytest.raises(ValueError, match="empty for 1"):
        labelled_dataset(ecgs, 4, targets=["partial"])
    with pytest.raises(ValueError, match="No label column 'afib'"):
        labelled_dataset(ecgs, 4, targets=["afib"])
