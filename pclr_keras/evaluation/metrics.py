"""The probe metrics, weighted, so one pass scores many bootstrap resamples at once.

Each metric takes y (n,), predictions (n,) and weights W (b, n) (bootstrap
multiplicities; a row of ones is the plain metric) and returns (b,): the
intervals of `probe` need the metric on a thousand resamples of the held-out
set, and a weighted metric is far cheaper than a thousand resampled copies.
"""

import numpy as np
import pandas as pd

METRICS = {"binary": ("auroc", "average_precision"), "continuous": ("r2", "mae")}
METRIC_NAMES = {"auroc": "AUROC", "average_precision": "average precision", "r2": "R²",
                "mae": "MAE"}


def _class_weights_by_score(y, score, weights):
    """(b, groups) weights of positives and of negatives per distinct score, ascending.

    Sorting once and summing runs of equal scores (`np.add.reduceat`) keeps
    a thousand resamples cheap: every resample shares the order.
    """
    order = np.argsort(score, kind="stable")
    ranked = score[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    w = weights[:, order]
    positive = y[order] == 1
    return (np.add.reduceat(w * positive, starts, axis=1),
            np.add.reduceat(w * ~positive, starts, axis=1))


def _weighted_auroc(y, score, weights):
    pos, neg = _class_weights_by_score(y, score, weights)
    below = np.cumsum(neg, axis=1) - neg               # negatives with a lower score
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / total, np.nan)


def _weighted_average_precision(y, score, weights):
    pos, neg = _class_weights_by_score(y, -score, weights)   # descending scores
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        total = pos.sum(axis=1)
        return np.where(total > 0, (pos * precision).sum(axis=1) / total, np.nan)


def _weighted_r2(y, prediction, weights):
    mean = weights @ y / weights.sum(axis=1)
    residual = weights @ (y - prediction) ** 2
    spread = (weights * (y[None] - mean[:, None]) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(spread > 0, 1.0 - residual / spread, np.nan)


def _weighted_mae(y, prediction, weights):
    return weights @ np.abs(y - prediction) / weights.sum(axis=1)


_METRIC_FUNCTIONS = {"auroc": _weighted_auroc, "average_precision": _weighted_average_precision,
                     "r2": _weighted_r2, "mae": _weighted_mae}


def metric(name, y, prediction, weights=None):
    """A probe metric (`auroc`, `average_precision`, `r2`, `mae`), optionally weighted.

    Args:
        name: str.
        y: array (n,). 0/1 for the binary metrics.
        prediction: array (n,). Scores (binary) or predicted values.
        weights: None, (n,) or (b, n) non-negative sample weights.

    Returns:
        float, or (b,) for (b, n) weights. Equal to scikit-learn's
        `roc_auc_score`, `average_precision_score`, `r2_score`,
        `mean_absolute_error` with `sample_weight`.
    """
    y, prediction = np.asarray(y, np.float64), np.asarray(prediction, np.float64)
    single = weights is None or np.ndim(weights) == 1
    weights = np.ones((1, len(y))) if weights is None else np.atleast_2d(weights)
    if weights.dtype not in (np.float32, np.float64):  # float32 resamples stay float32: 2x faster
        weights = weights.astype(np.float64)
    values = _METRIC_FUNCTIONS[name](y, prediction, weights)
    return float(values[0]) if single else values


def patient_resamples(test_patients, n_boot, seed, chunk=100):
    """Yields (b, n_test) weights: patients drawn with replacement, chunk by chunk."""
    codes, _ = pd.factorize(test_patients)
    n_patients = codes.max() + 1
    rng = np.random.default_rng([seed, 2])
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = rng.multinomial(n_patients, np.full(n_patients, 1.0 / n_patients), size=b)
        yield counts[:, codes].astype(np.float64)


def display_names(summary, metric_names):
    """Metric key -> display name, for the metrics of `summary` a report shows.

    `metric_names`: None (every metric present, default names), a list of
    keys, or a dict key -> display name (those metrics, in that order).
    """
    present = list(dict.fromkeys(summary["metric"]))
    if metric_names is None:
        return {m: METRIC_NAMES.get(m, m) for m in present}
    if isinstance(metric_names, dict):
        return {m: name for m, name in metric_names.items() if m in present}
    return {m: METRIC_NAMES.get(m, m) for m in metric_names if m in present}
