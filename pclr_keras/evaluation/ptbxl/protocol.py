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

from pclr_keras.evaluation.intervals import (N_BOOT, macro_auroc_interval,
                                             paired_macro_auroc_difference)
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


def fit_scores(train_x, train_y, eval_xs, c_grid, fit_cache=None):
    """Logistic regression per label at each C; yields (C, scores of each eval set).

    The Cs go from strongest to weakest penalty, each fit starting from the
    last. A label with no positive (or no negative) training ECG cannot be
    learned: it scores its training prevalence everywhere, which counts as
    chance (0.5) in the macro AUROC rather than disappearing from it.
    `fit_cache` (a `FitCache`) returns fits made before instead of refitting.
    """
    prevalence = train_y.mean(axis=0)
    learnable = (prevalence > 0) & (prevalence < 1)
    solution = None
    for C in sorted(c_grid):
        scores = [np.tile(prevalence, (len(x), 1)) for x in eval_xs]
        if learnable.any():
            solution = _fit(train_x, train_y[:, learnable].astype(np.float64), C, solution,
                            fit_cache)
            for s, x in zip(scores, eval_xs):
                s[:, learnable] = x @ solution[0] + solution[1]
        yield C, scores


def _fit(x, y, C, start, fit_cache):
    if fit_cache is None:
        return fit_logistic(x, y, C, start=start)
    key = fit_cache.key(x, y, C, start)
    solution = fit_cache.get(key)
    if solution is None:
        solution = fit_logistic(x, y, C, start=start)
        fit_cache.put(key, solution)
    return solution


def training_subset(train_rows, fraction, seed):
    """A seeded random `fraction` (at least 2) of `train_rows`, sorted.

    One seed draws one order, so the subsets of one seed are nested: its 1 %
    lies inside its 10 %.
    """
    order = np.random.default_rng(seed).permutation(np.asarray(train_rows))
    return np.sort(order[:max(2, int(round(fraction * len(order))))])


def bootstrap_interval(y, scores, patients=None, n_boot=N_BOOT, seed=0):
    """95 % interval of the macro AUROC, patients resampled (`pclr_keras.evaluation.intervals`)."""
    return tuple(macro_auroc_interval(y, scores, patients, n_boot, seed)["ci95"])


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


def paired_difference(y, baseline_scores, scores, patients=None, n_boot=N_BOOT, seed=0):
    """`scores`' macro AUROC minus `baseline_scores`', with a 95 % paired patient interval.

    Returns:
        (difference, low, high, share of resamples where it is not above 0).
    """
    paired = paired_macro_auroc_difference(y, baseline_scores, scores, patients, n_boot, seed)
    return (paired["difference"], *paired["ci95"], paired["p_not_better"])


def _chosen_fits(features, labels, folds, fractions, c_grid, seed, judge, fit_cache=None):
    """Fit on a fraction of folds 1-8, choose C on fold 9; per fraction yields the choice.

    ECGs with no label are left out, and fold 10 too unless judging.
    Yields (row: fraction, train_ecgs, C, val_auroc; fold-9 (rows, scores);
    fold-10 (rows, scores), or None when not judging), rows indexing the
    ECGs as given.
    """
    labels, folds = np.asarray(labels), np.asarray(folds)
    keep = labels.sum(axis=1) > 0
    if not judge:
        keep &= folds != TEST_FOLD_NUMBER
    train = np.flatnonzero(keep & (folds <= 8))
    val = np.flatnonzero(keep & (folds == SELECTION_FOLD_NUMBER))
    test = np.flatnonzero(keep & (folds == TEST_FOLD_NUMBER))
    features = np.asarray(features)
    x = np.zeros(features.shape)  # rows left out (fold 10 when not judging) are never read
    x[keep] = StandardScaler().fit(features[train]).transform(features[keep])
    for fraction in fractions:
        subset = training_subset(train, fraction, seed)
        best = None  # (C, fold-9 macro AUROC, fold-9 scores, fold-10 scores)
        for C, (val_scores, *test_scores) in fit_scores(
                x[subset], labels[subset], [x[val], x[test]][:2 if judge else 1], c_grid,
                fit_cache):
            score = macro_auroc(labels[val], val_scores)[0]
            if best is None or score > best[1]:
                best = (C, score, val_scores, test_scores)
        row = dict(fraction=fraction, train_ecgs=len(subset), C=best[0], val_auroc=best[1])
        yield row, (val, best[2]), (test, best[3][0]) if judge else None


def compare_on_fold9(candidates, labels, folds, baseline, *, patients=None, fractions=FRACTIONS,
                     c_grid=C_GRID, seed=0, n_boot=N_BOOT, fit_cache=None):
    """Fold-9 macro AUROC of candidate encoders, each against `baseline` with a paired interval.

    What a release is chosen on: fold 10 is dropped before anything else.
    Every candidate gets the same training subsets and the same patient
    resamples of fold 9 (`paired_difference`).

    Args:
        candidates: dict name -> features (n, d), rows aligned with `labels`.
        labels: 0/1 array (n, labels); folds: array (n,) of `strat_fold`.
        baseline: the name in `candidates` the others are compared with
            (e.g. the current release).
        patients: array (n,) of patient ids, resampled for the intervals
            (None: every ECG its own patient).

    Returns:
        DataFrame, one row per candidate and fraction: representation,
        fraction, train_ecgs, C, val_auroc, and (NaN for the baseline)
        difference from the baseline, its 95 % interval (diff_low,
        diff_high) and p_not_better, the resampled share at or below 0.
    """
    if baseline not in candidates:
        raise ValueError(f"baseline {baseline!r} is not one of the candidates {list(candidates)}")
    labels = np.asarray(labels)
    patients = np.arange(len(labels)) if patients is None else np.asarray(patients)
    fits = {name: list(_chosen_fits(features, labels, folds, fractions, c_grid, seed, False,
                                    fit_cache))
            for name, features in candidates.items()}
    rows = []
    for name, fitted in fits.items():
        for (row, (val, scores), _), (_, (_, base), _) in zip(fitted, fits[baseline]):
            paired = ([np.nan] * 4 if name == baseline else paired_difference(
                labels[val], base, scores, patients[val], n_boot, seed))
            row.update(zip(("difference", "diff_low", "diff_high", "p_not_better"), paired))
            rows.append(dict(representation=name, **row))
    return pd.DataFrame(rows)


def judge_on_fold10(features, labels, folds, *, fractions=FRACTIONS, c_grid=C_GRID, seed=0,
                    fit_cache=None):
    """The fold-9 choice per fraction and the chosen model's fold-10 scores.

    Returns:
        list, one per fraction, of (row: fraction, train_ecgs, C, val_auroc;
        fold-10 rows (indices into the ECGs given); their scores (rows, labels)).
    """
    return [(row, *test) for row, _, test in
            _chosen_fits(features, labels, folds, fractions, c_grid, seed, True, fit_cache)]


def linear_evaluation(features, labels, folds, *, patients=None, fractions=FRACTIONS,
                      c_grid=C_GRID, seed=0, n_boot=N_BOOT, subgroups=None, judged=None):
    """Macro AUROC on fold 10 of a linear model on `features`, per training fraction.

    Args:
        features: array (n, d), one row per ECG.
        labels: 0/1 array (n, labels); rows with no label are left out.
        folds: array (n,) of `strat_fold`.
        patients: array (n,) of patient ids: the intervals resample
            patients (None: every ECG its own patient).
        fractions: shares of the training ECGs (folds 1-8) to train on, a
            seeded random subset each.
        c_grid: inverse regularisation strengths tried; the best on fold 9
            (macro AUROC) is refitted and scored on fold 10.
        subgroups: optional dict name -> array (n,) of group values (None
            or NaN for unknown), e.g. `ptbxl_subgroups(labels)`: the chosen model's
            fold-10 scores are also scored within each group.
        judged: `judge_on_fold10`'s result for these arguments, when the
            caller already has it (the fits are the slow part).

    Returns:
        DataFrame, one row per fraction and subgroup ("all" first):
        train_ecgs, C, val_auroc (fold 9), test_ecgs, test_auroc, its 95 %
        interval (ci_low, ci_high), test_labels scored and draws (patient
        resamples drawn to keep 1,000 with every label).
    """
    labels = np.asarray(labels)
    patients = np.arange(len(labels)) if patients is None else np.asarray(patients)
    if judged is None:
        judged = judge_on_fold10(features, labels, folds, fractions=fractions, c_grid=c_grid,
                                 seed=seed)
    rows = []
    for chosen, test, scores in judged:
        within = {"all": np.ones(len(test), bool)}
        for name, values in (subgroups or {}).items():
            values = np.asarray(values, object)[test]
            within.update({f"{name}={value}": values == value
                           for value in sorted({v for v in values if not pd.isna(v)})})
        for subgroup, rows_in in within.items():
            judged_rows = test[rows_in]
            result = macro_auroc_interval(labels[judged_rows], scores[rows_in],
                                          patients[judged_rows], n_boot, seed)
            rows.append(dict(chosen, subgroup=subgroup, test_ecgs=int(rows_in.sum()),
                             test_auroc=result["auroc"], ci_low=result["ci95"][0],
                             ci_high=result["ci95"][1], test_labels=result["labels"],
                             draws=result["draws"]))
    return pd.DataFrame(rows)
