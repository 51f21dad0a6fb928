"""Macro AUROC intervals from patients resampled, over one fixed label set.

A test fold holds several ECGs of many patients, so its ECGs are not
independent draws: resampling ECGs gives intervals that are too narrow.
Here whole patients are drawn with replacement (each with all of their
ECGs). The macro AUROC is the mean over a label set fixed once, the labels
with both classes in the test set; a resample in which any of them lacks a
positive or a negative patient is redrawn (as the PTB-XL benchmark's
bootstrap does), so every resample averages the same labels and the
interval is centred on the figure it qualifies. How many draws it took is
reported beside the interval.
"""

import numpy as np
import pandas as pd

from pclr_keras.evaluation.metrics import metric

N_BOOT = 1000
MAX_DRAWS_PER_RESAMPLE = 200


def scored_labels(y):
    """The fixed label set: columns of `y` (n, labels) with both classes."""
    y = np.asarray(y)
    positives = y.sum(axis=0)
    return np.flatnonzero((positives > 0) & (positives < len(y)))


def patient_resamples(y, patients, n_boot=N_BOOT, seed=0, chunk=250):
    """ECG weights (n_boot, n) from patients drawn with replacement, every label kept.

    Args:
        y: 0/1 array (n, labels) restricted to the fixed label set.
        patients: array (n,) of patient ids; None treats every ECG as its own patient.
        n_boot, seed: int.

    Returns:
        (weights (n_boot, n) float32, draws: int, resamples drawn in all).

    Raises:
        ValueError: when so few patients carry a label that almost no
            resample keeps it (more than MAX_DRAWS_PER_RESAMPLE draws each).
    """
    y = np.asarray(y, np.float64)
    codes = np.arange(len(y)) if patients is None else pd.factorize(np.asarray(patients))[0]
    n_patients = codes.max() + 1
    positive = np.zeros((n_patients, y.shape[1]))
    np.add.at(positive, codes, y)
    negative = np.zeros_like(positive)
    np.add.at(negative, codes, 1.0 - y)
    rng = np.random.default_rng([seed, 30])
    kept, draws = [], 0
    while sum(len(k) for k in kept) < n_boot:
        if draws > MAX_DRAWS_PER_RESAMPLE * n_boot:
            raise ValueError(f"fewer than 1 in {MAX_DRAWS_PER_RESAMPLE} patient resamples keep "
                             "every label; too few patients carry the rarest labels")
        counts = rng.multinomial(n_patients, np.full(n_patients, 1.0 / n_patients), size=chunk)
        draws += chunk
        whole = ((counts @ positive > 0) & (counts @ negative > 0)).all(axis=1)
        kept.append(counts[whole])
    counts = np.concatenate(kept)[:n_boot]
    return counts[:, codes].astype(np.float32), draws  # counts: exact in float32


def macro_auroc_resampled(y, scores, weights):
    """(b,) macro AUROC of each weighted resample, over every column of `y`."""
    y, scores = np.asarray(y), np.asarray(scores)
    return np.mean([metric("auroc", y[:, j], scores[:, j], weights)
                    for j in range(y.shape[1])], axis=0)


def _resampled(y, score_sets, patients, n_boot, seed):
    """Per score set, the macro AUROC on all ECGs then on each patient resample (1 + n_boot,).

    One weight matrix (a row of ones, then the resamples) scores the figure
    and its resamples in one pass, over the labels of `y` with both classes.

    Returns:
        (values per score set, labels averaged, draws).
    """
    labels = scored_labels(y)
    y = np.asarray(y)[:, labels]
    weights, draws = patient_resamples(y, patients, n_boot, seed)
    weights = np.vstack([np.ones((1, len(y)), weights.dtype), weights])
    return ([macro_auroc_resampled(y, np.asarray(s)[:, labels], weights) for s in score_sets],
            len(labels), draws)


def macro_auroc_interval(y, scores, patients=None, n_boot=N_BOOT, seed=0):
    """Macro AUROC over the labels of `y` with both classes, and its patient interval.

    Returns:
        dict: auroc, ci95 [low, high], labels (how many were averaged),
        n_boot, draws.
    """
    (values,), labels, draws = _resampled(y, [scores], patients, n_boot, seed)
    low, high = np.percentile(values[1:], [2.5, 97.5])
    return dict(auroc=float(values[0]), ci95=[float(low), float(high)], labels=labels,
                n_boot=n_boot, draws=draws)


def paired_macro_auroc_difference(y, baseline_scores, scores, patients=None, n_boot=N_BOOT,
                                  seed=0):
    """`scores`' macro AUROC minus `baseline_scores`', both on the same patient resamples.

    What the two share (which patients are hard) cancels out of the
    difference, so its interval is far narrower than two separate ones: the
    interval a release decision needs.

    Returns:
        dict: difference, ci95 [low, high], p_not_better (share of resamples
        at or below 0), labels, n_boot, draws.
    """
    (ours, bar), labels, draws = _resampled(y, [scores, baseline_scores], patients, n_boot, seed)
    values = ours - bar
    low, high = np.percentile(values[1:], [2.5, 97.5])
    return dict(difference=float(values[0]), ci95=[float(low), float(high)],
                p_not_better=float(np.mean(values[1:] <= 0)), labels=labels, n_boot=n_boot,
                draws=draws)
