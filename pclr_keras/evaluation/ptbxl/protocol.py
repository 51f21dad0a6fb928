"""The PTB-XL benchmark protocol (Strodthoff et al. 2021), for frozen representations.

The community compares ECG models on PTB-XL at 100 Hz with the
patient-disjoint folds: train on folds 1-8, choose hyper-parameters on fold
9, report macro AUROC on fold 10, for multi-label statement sets. Here the
model is linear on a frozen representation (the usual "linear evaluation" of
self-supervised encoders): one logistic regression per statement, its
regularisation chosen on fold 9 by macro AUROC, trained on 1 %, 10 % or
100 % of the training ECGs.

Label sets, as the benchmark builds them from `scp_codes` (any likelihood):

- ``superdiagnostic``: the diagnostic class (NORM, MI, STTC, CD, HYP) of
  every diagnostic statement;
- ``all``: every statement (71 in PTB-XL).

ECGs with no label of the set are left out, as in the benchmark.
"""

import ast

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from pclr_keras.folds import SELECTION_FOLD_NUMBER, TEST_FOLD_NUMBER

LABEL_SETS = ("superdiagnostic", "all")
FRACTIONS = (0.01, 0.1, 1.0)
C_GRID = (0.001, 0.01, 0.1, 1.0)


def statement_labels(scp_codes, statements, label_set):
    """0/1 DataFrame (ECG x label) of one label set, from `scp_codes` cells.

    Args:
        scp_codes: Series of PTB-XL `scp_codes` cells ("{'NORM': 100.0}").
        statements: `scp_statements.csv` as a DataFrame indexed by code.
        label_set: "superdiagnostic" or "all".
    """
    codes = scp_codes.map(lambda cell: list(ast.literal_eval(cell)) if isinstance(cell, str) else [])
    if label_set == "superdiagnostic":
        diagnostic = statements[statements["diagnostic"] == 1]["diagnostic_class"].dropna()
        codes = codes.map(lambda cs: sorted({diagnostic[c] for c in cs if c in diagnostic.index}))
    elif label_set != "all":
        raise ValueError(f"label_set must be one of {LABEL_SETS}, not {label_set!r}")
    names = sorted({c for cs in codes for c in cs})
    matrix = np.zeros((len(codes), len(names)), np.int8)
    column = {name: j for j, name in enumerate(names)}
    for i, cs in enumerate(codes):
        matrix[i, [column[c] for c in cs]] = 1
    return pd.DataFrame(matrix, index=scp_codes.index, columns=names)


def macro_auroc(y, scores):
    """Mean AUROC over the labels with both classes in `y` (and how many there were)."""
    usable = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    if not usable:
        return float("nan"), 0
    return float(np.mean([roc_auc_score(y[:, j], scores[:, j]) for j in usable])), len(usable)


def fit_logistic(x, y, C, start=None, max_iter=3000):
    """L2-penalised logistic regressions of every column of `y` on `x`, fitted together.

    The objective, `C * sum of log-losses + ||w||^2 / 2` with unpenalised
    intercepts (scikit-learn's `LogisticRegression`), is a sum over labels,
    so minimising it jointly gives each label's own fit; as matrix products
    it is one L-BFGS run instead of one per label (71 for `all`).

    `start`, an earlier solution (e.g. at a smaller C), warm-starts it.

    Returns:
        (weights (d, labels), intercepts (labels,)).
    """
    n, d = x.shape
    k = y.shape[1]

    def objective(theta):
        w, b = theta[:d * k].reshape(d, k), theta[d * k:]
        z = x @ w + b
        residual = expit(z) - y
        value = C * (np.logaddexp(0.0, z) - y * z).sum() + 0.5 * (w * w).sum()
        gradient = np.concatenate([(C * (x.T @ residual) + w).ravel(), C * residual.sum(axis=0)])
        return value, gradient

    initial = np.zeros(d * k + k) if start is None else np.concatenate([start[0].ravel(), start[1]])
    result = minimize(objective, initial, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter})
    return result.x[:d * k].reshape(d, k), result.x[d * k:]


def fit_scores(train_x, train_y, eval_xs, c_grid):
    """Logistic regression per label at each C; yields (C, scores of each eval set).

    The Cs go from strongest to weakest penalty, each fit starting from the
    last. A label with no positive (or no negative) training ECG cannot be
    learned: it scores its training prevalence everywhere, which counts as
    chance (0.5) in the macro AUROC rather than disappearing from it.
    """
    prevalence = train_y.mean(axis=0)
    learnable = (prevalence > 0) & (prevalence < 1)
    solution = None
    for C in sorted(c_grid):
        scores = [np.tile(prevalence, (len(x), 1)) for x in eval_xs]
        if learnable.any():
            solution = fit_logistic(train_x, train_y[:, learnable].astype(np.float64), C,
                                    start=solution)
            for s, x in zip(scores, eval_xs):
                s[:, learnable] = x @ solution[0] + solution[1]
        yield C, scores


def training_subset(train_rows, fraction, seed):
    """A seeded random `fraction` (at least 2) of `train_rows`, sorted.

    One seed draws one order, so the subsets of one seed are nested: its 1 %
    lies inside its 10 %.
    """
    order = np.random.default_rng(seed).permutation(np.asarray(train_rows))
    return np.sort(order[:max(2, int(round(fraction * len(order))))])


def _bootstrap(y, statistic, n_boot, seed):
    """`statistic(rows)` on `n_boot` resamples of the ECGs of `y`, drawn with replacement.

    A resample in which no label has both classes has no AUROC and is
    skipped (it happens only on very small test sets).
    """
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        rows = rng.integers(0, len(y), len(y))
        positives = y[rows].sum(axis=0)
        if ((positives > 0) & (positives < len(rows))).any():
            values.append(statistic(rows))
    return np.asarray(values)


def bootstrap_interval(y, scores, n_boot=200, seed=0):
    """95 % percentile interval of the macro AUROC over test ECGs resampled."""
    values = _bootstrap(y, lambda rows: macro_auroc(y[rows], scores[rows])[0], n_boot, seed)
    return tuple(np.percentile(values, [2.5, 97.5]))


def age_band(age):
    """PTB-XL's age in the card's bands: "<40", "40-65", ">65" (PTB-XL writes 300 for 90+)."""
    if pd.isna(age):
        return None
    return "<40" if age < 40 else "40-65" if age <= 65 else ">65"


def ptbxl_subgroups(labels):
    """Subgroup labels of PTB-XL rows for `linear_evaluation`: sex and age band."""
    sexes = {0: "male", 1: "female"}  # PTB-XL: 0 male, 1 female
    return {"sex": np.array([sexes.get(v) for v in labels["sex"]], object),
            "age": np.array([age_band(v) for v in labels["age"]], object)}


def paired_difference(y, baseline_scores, scores, n_boot=1000, seed=0):
    """`scores`' macro AUROC minus `baseline_scores`', with a 95 % paired bootstrap interval.

    Both are scored on the same resampled ECGs, so what the two share (which
    ECGs are hard) cancels out of the difference: the interval is the one a
    release decision needs, far narrower than comparing two separate
    intervals.

    Returns:
        (difference, low, high, share of resamples where it is not above 0).
    """
    def difference(rows):
        ours, bar = (macro_auroc(y[rows], s[rows])[0] for s in (scores, baseline_scores))
        return ours - bar

    values = _bootstrap(y, difference, n_boot, seed)
    low, high = np.percentile(values, [2.5, 97.5])
    return difference(np.arange(len(y))), low, high, float(np.mean(values <= 0))


def _chosen_fits(features, labels, folds, fractions, c_grid, seed, judge):
    """Fit on a fraction of folds 1-8, choose C on fold 9; per fraction yields the choice.

    ECGs with no label are left out, and fold 10 too unless judging.
    Yields (row: fraction, train_ecgs, C, val_auroc; fold-9 labels and
    scores; fold-10 labels and scores, or None when not judging).
    """
    labels = np.asarray(labels)
    keep = labels.sum(axis=1) > 0
    if not judge:
        keep &= np.asarray(folds) != TEST_FOLD_NUMBER
    features, labels, folds = np.asarray(features)[keep], labels[keep], np.asarray(folds)[keep]
    train, val, test = folds <= 8, folds == SELECTION_FOLD_NUMBER, folds == TEST_FOLD_NUMBER
    scaler = StandardScaler().fit(features[train])
    x = scaler.transform(features).astype(np.float64)
    for fraction in fractions:
        subset = training_subset(np.flatnonzero(train), fraction, seed)
        best = None  # (C, fold-9 macro AUROC, fold-9 scores, fold-10 scores)
        for C, (val_scores, *test_scores) in fit_scores(
                x[subset], labels[subset], [x[val], x[test]][:2 if judge else 1], c_grid):
            score = macro_auroc(labels[val], val_scores)[0]
            if best is None or score > best[1]:
                best = (C, score, val_scores, test_scores)
        row = dict(fraction=fraction, train_ecgs=len(subset), C=best[0], val_auroc=best[1])
        yield row, (labels[val], best[2]), (labels[test], best[3][0]) if judge else None


def compare_on_fold9(candidates, labels, folds, baseline, *, fractions=FRACTIONS,
                     c_grid=C_GRID, seed=0, n_boot=1000):
    """Fold-9 macro AUROC of candidate encoders, each against `baseline` with a paired interval.

    What a release is chosen on: fold 10 is dropped before anything else.
    Every candidate gets the same training subsets and the same bootstrap
    resamples of fold 9 (`paired_difference`).

    Args:
        candidates: dict name -> features (n, d), rows aligned with `labels`.
        labels: 0/1 array (n, labels); folds: array (n,) of `strat_fold`.
        baseline: the name in `candidates` the others are compared with
            (e.g. the current release).

    Returns:
        DataFrame, one row per candidate and fraction: representation,
        fraction, train_ecgs, C, val_auroc, and (NaN for the baseline)
        difference from the baseline, its 95 % interval (diff_low,
        diff_high) and p_not_better, the bootstrap share at or below 0.
    """
    if baseline not in candidates:
        raise ValueError(f"baseline {baseline!r} is not one of the candidates {list(candidates)}")
    fits = {name: list(_chosen_fits(features, labels, folds, fractions, c_grid, seed, False))
            for name, features in candidates.items()}
    rows = []
    for name, fitted in fits.items():
        for (row, (y, scores), _), (_, (_, base), _) in zip(fitted, fits[baseline]):
            paired = ([np.nan] * 4 if name == baseline
                      else paired_difference(y, base, scores, n_boot, seed))
            row.update(zip(("difference", "diff_low", "diff_high", "p_not_better"), paired))
            rows.append(dict(representation=name, **row))
    return pd.DataFrame(rows)


def linear_evaluation(features, labels, folds, *, fractions=FRACTIONS, c_grid=C_GRID, seed=0,
                      n_boot=200, subgroups=None):
    """Macro AUROC on fold 10 of a linear model on `features`, per training fraction.

    Args:
        features: array (n, d), one row per ECG.
        labels: 0/1 array (n, labels); rows with no label are left out.
        folds: array (n,) of `strat_fold`.
        fractions: shares of the training ECGs (folds 1-8) to train on, a
            seeded random subset each.
        c_grid: inverse regularisation strengths tried; the best on fold 9
            (macro AUROC) is refitted and scored on fold 10.
        subgroups: optional dict name -> array (n,) of group values (None
            or NaN for unknown), e.g. `ptbxl_subgroups(labels)`: the chosen model's
            fold-10 scores are also scored within each group.

    Returns:
        DataFrame, one row per fraction and subgroup ("all" first):
        train_ecgs, C, val_auroc (fold 9), test_ecgs, test_auroc, its 95 %
        interval (ci_low, ci_high) and test_labels scored.
    """
    labels = np.asarray(labels)
    keep = labels.sum(axis=1) > 0
    test = np.asarray(folds)[keep] == TEST_FOLD_NUMBER
    groups = {name: np.asarray(values, object)[keep][test]
              for name, values in (subgroups or {}).items()}
    rows = []
    for chosen, _, (test_labels, test_scores) in _chosen_fits(
            features, labels, folds, fractions, c_grid, seed, True):
        within = {"all": np.ones(len(test_labels), bool)}
        within.update({f"{name}={value}": values == value
                       for name, values in groups.items()
                       for value in sorted({v for v in values if not pd.isna(v)})})
        for subgroup, rows_in in within.items():
            y, scores = test_labels[rows_in], test_scores[rows_in]
            auroc, n_labels = macro_auroc(y, scores)
            low, high = bootstrap_interval(y, scores, n_boot, seed)
            rows.append(dict(chosen, subgroup=subgroup, test_ecgs=int(rows_in.sum()),
                             test_auroc=auroc, ci_low=low, ci_high=high, test_labels=n_labels))
    return pd.DataFrame(rows)
