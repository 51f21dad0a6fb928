"""Linear probes: how well a linear model on a frozen representation does with few labels.

What PCLR claims is that a linear model on its frozen representation needs
few labels. `probe` measures that: for each number of labelled ECGs, random
training subsets are drawn from the training side of a fixed, patient-grouped
split (`splits`), a regularised linear model (`linear`: logistic regression
for a binary target, ridge for a continuous one) is fitted with its
regularisation chosen by cross-validation grouped by patient *inside the
subset*, and it is scored on the fixed held-out ECGs. Every representation
sees the same subsets and the same held-out set, so their numbers compare
pair by pair. Nothing here imports TensorFlow: a network trained from
scratch enters `probe` as a callable.

A representation is a table (see `inputs.load_representation`) or a callable
`fit_predict(train_ecg_ids, y_train, train_patients, test_ecg_ids, *, task,
seed) -> predictions for test_ecg_ids`: it gets exactly the subsets the
linear probes get (y 0/1 for a binary target; it returns the positive
class's score), and a seed per subset.

Confidence intervals (documented once, used everywhere): the value reported
for a representation and a label count is the mean over repeats (training
subsets) of the metric on the whole held-out set. Its 95 % interval is the
2.5-97.5 percentile of that same mean over `bootstrap` resamples of the
held-out set; resamples draw *patients* with replacement (an ECG counts as
often as its patient is drawn), and every repeat, label count and
representation is scored on the same resamples. The interval is therefore
the uncertainty due to the finite held-out set; the spread due to which
ECGs were labelled is reported beside it as `std_repeats`.
"""

import dataclasses
import warnings

import numpy as np
import pandas as pd

from pclr_keras.evaluation.inputs import ID, load_representation, read_table
from pclr_keras.evaluation.linear import LOGISTIC_CS, RIDGE_ALPHAS
from pclr_keras.evaluation.metrics import METRICS, metric, patient_resamples
from pclr_keras.evaluation.probe_data import ProbeData
from pclr_keras.folds import check_disjoint, cv_splits

DEFAULT_LABEL_COUNTS = (50, 100, 250, 500, 1000, 2500, 5000)
SCORE_COLUMNS = ["representation", "target", "task", "n_labels", "repeat", "metric", "value",
                 "regularization", "n_train_patients"]
SUMMARY_COLUMNS = ["representation", "target", "task", "metric", "n_labels", "repeats", "mean",
                   "ci_low", "ci_high", "std_repeats", "n_test", "n_test_patients"]


@dataclasses.dataclass
class ProbeResult:
    """What `probe` measured.

    Args:
        scores: DataFrame, one row per representation, label count, repeat and
            metric: representation, target, task, n_labels, repeat, metric,
            value (on the whole held-out set), regularization (C or alpha
            chosen by cross-validation; NaN for callables), n_train_patients.
        summary: DataFrame, one row per representation, label count and
            metric: representation, target, task, metric, n_labels, repeats,
            mean, ci_low, ci_high (95 %, see the module docstring),
            std_repeats, n_test, n_test_patients.
        splits: list of dict, one per (label count, repeat): n_labels,
            repeat, train_ecg_ids, test_ecg_ids, train_patients,
            test_patients and cv_folds (list of (train rows, validation rows)
            of the subset): what was fitted on what, for audits and tests.
        info: dict. task, positive class (binary), n_train, n_test,
            n_test_patients, label_counts, skipped (why a count or a repeat
            was left out).
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    splits: list
    info: dict


def probe(representations, labels, target, *, task="auto", label_counts=DEFAULT_LABEL_COUNTS,
          repeats=5, test=None, seed=0, bootstrap=1000, prefix=None, cv=5, min_labels=20,
          min_per_class=2, Cs=LOGISTIC_CS, alphas=RIDGE_ALPHAS, n_jobs=None, blas_threads=1,
          progress=False):
    """Linear probes of several representations at several numbers of labels.

    Args:
        representations: dict name -> representation: a DataFrame or path
            (see `load_representation`), or a `fit_predict` callable (see the
            module docstring).
        labels: DataFrame or CSV path with `ecg_id`, the `target` column and
            `patient_id` (else the representations' `patient_id`).
        target: str. The column to predict; rows where it is missing are left out.
        task: "auto" (binary if the target has 2 distinct values, else
            continuous), "binary" (logistic regression; the larger value is
            the positive class) or "continuous" (ridge).
        label_counts: sequence of int. Numbers of labelled ECGs. Counts above
            the training side's size become that size (fitted once); counts
            below `min_labels` are left out.
        repeats: int. Random training subsets per count.
        test: the held-out set, fixed for every count, repeat and
            representation: None or a float (that share of the patients,
            default 0.2), a query on the labels (`"strat_fold >= 9"`,
            PTB-XL's split), a boolean array / Series aligned with the rows of
            `labels`, or a list of `ecg_id`s. A patient on both sides raises
            `ValueError`.
        seed: int. Subsets, folds, the split and the bootstrap follow from it.
        bootstrap: int. Patient resamples for the 95 % intervals; 0: none.
        prefix: str or None. Feature column prefix in the representations.
        cv: int. Patient-grouped folds in each subset that choose the regularisation.
        min_labels: int. Smallest count used.
        min_per_class: int. A binary subset needs this many ECGs of each
            class; a subset short of it is drawn again (up to 100 times),
            then left out and reported in `info["skipped"]`.
        Cs, alphas: the grids of `LogisticRegressionCV` and `RidgeCV`.
        n_jobs: passed to `LogisticRegressionCV` (folds in parallel).
        blas_threads: int or None. BLAS threads while fitting (1 is fastest
            here); None leaves the BLAS as it is.
        progress: bool. Show a progress bar.

    Returns:
        A `ProbeResult` (`.summary` is what `write_report` takes). Only ECGs
        in every table representation (and with the target) are used;
        subsets are drawn uniformly by ECG, and the folds keep a patient's
        ECGs together.
    """
    data = _probe_data(representations, labels, target, task=task, test=test, seed=seed,
                       prefix=prefix, min_per_class=min_per_class)
    n_train = len(data.train_side)
    counts = _label_counts(label_counts, n_train, min_labels)
    jobs = [(n, r) for n in counts for r in range(1 if n == n_train else repeats)]
    skipped, splits, rows, predictions = _fit_subsets(
        data, representations, target, jobs, seed=seed, cv=cv, min_per_class=min_per_class,
        fitting=(Cs, alphas, n_jobs, blas_threads), progress=progress)
    scores = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    boot = _bootstrap(predictions, data, bootstrap, seed)
    summary = _summary(scores, boot, data, target, representations)
    for message in skipped:
        warnings.warn(f"probe {target}: {message}")
    return ProbeResult(scores, summary, splits, _info(data, counts, skipped))


def _probe_data(representations, labels, target, *, task, test, seed, prefix, min_per_class):
    """Reads the labels and table representations into one `ProbeData`."""
    labels = read_table(labels)
    if ID not in labels.columns or target not in labels.columns:
        raise ValueError(f"labels need {ID!r} and {target!r} columns")
    tables = {name: load_representation(r, prefix=prefix)
              for name, r in representations.items() if not callable(r)}
    return ProbeData.of(labels, target, tables, task, test, seed, min_per_class)


def _label_counts(label_counts, n_train, min_labels):
    """The counts fitted: capped at the training side's size, at least `min_labels`."""
    counts = sorted({min(int(c), n_train) for c in label_counts if int(c) >= min_labels})
    if not counts:
        raise ValueError(f"no label count >= min_labels={min_labels} in {list(label_counts)}")
    return counts


def _info(data, counts, skipped):
    """`ProbeResult.info`."""
    positive = data.positive.item() if isinstance(data.positive, np.generic) else data.positive
    return dict(task=data.task, positive=positive, n_train=len(data.train_side),
                n_test=len(data.test_rows), n_test_patients=data.n_test_patients(),
                label_counts=counts, skipped=skipped)


def _fit_subsets(data, representations, target, jobs, *, seed, cv, min_per_class, fitting,
                 progress):
    """Fits every representation on each (label count, repeat) subset of `jobs`.

    Returns:
        (skipped messages, split records, score rows, (name, n) -> predictions).
    """
    from tqdm import tqdm

    skipped, splits, rows, predictions = [], [], [], {}
    for n, repeat in tqdm(jobs, desc=f"probe {target}", disable=not progress):
        subset = data.draw_subset(n, repeat, seed, min_per_class)
        if subset is None:
            skipped.append(f"n_labels={n} repeat={repeat}: fewer than {min_per_class} ECGs of "
                           "a class in 100 draws")
            continue
        subset_seed = int(np.random.SeedSequence([seed, 3, n, repeat]).generate_state(1)[0])
        folds = cv_splits(data.y[subset], data.patients[subset], data.task, n_splits=cv,
                          seed=subset_seed)
        if not folds:
            skipped.append(f"n_labels={n} repeat={repeat}: no patient-grouped folds possible")
            continue
        check_disjoint(data.patients[subset], data.patients[data.test_rows],
                       "a training subset")
        splits.append(data.split_record(n, repeat, subset, folds))
        for name, representation in representations.items():
            prediction, regularization = data.predict(representation, name, subset, folds,
                                                      subset_seed, fitting)
            predictions.setdefault((name, n), []).append(prediction)
            rows += data.score_rows(name, target, n, repeat, subset, prediction, regularization)
    return skipped, splits, rows, predictions


def _bootstrap(predictions, data, bootstrap, seed):
    """(name, n, metric) -> per-resample means over repeats, for the intervals."""
    y_test, test_patients = data.y[data.test_rows], data.patients[data.test_rows]
    boot = {}
    if not bootstrap:
        return boot
    for weights in patient_resamples(test_patients, bootstrap, seed):
        for (name, n), preds in predictions.items():
            for key in METRICS[data.task]:
                per_repeat = np.stack([metric(key, y_test, p, weights)
                                       for p in preds], axis=1)       # (b, repeats)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    boot.setdefault((name, n, key), []).append(np.nanmean(per_repeat, axis=1))
    return boot


def _summary(scores, boot, data, target, representations):
    """`ProbeResult.summary`: mean, 95 % interval and spread per representation, count, metric."""
    summary_rows = []
    n_test_patients = data.n_test_patients()
    for (name, n, key), group in scores.groupby(["representation", "n_labels", "metric"],
                                                sort=False):
        values = group["value"].to_numpy()
        low = high = np.nan
        if (name, n, key) in boot:
            low, high = np.nanpercentile(np.concatenate(boot[(name, n, key)]), [2.5, 97.5])
        summary_rows.append(dict(
            representation=name, target=target, task=data.task, metric=key, n_labels=n,
            repeats=len(values), mean=float(np.nanmean(values)), ci_low=float(low),
            ci_high=float(high), std_repeats=float(np.std(values, ddof=1)) if len(values) > 1
            else np.nan, n_test=len(data.test_rows), n_test_patients=n_test_patients))
    summary = pd.DataFrame(summary_rows, columns=SUMMARY_COLUMNS)
    order = {name: i for i, name in enumerate(representations)}
    order.update({key: i for i, key in enumerate(METRICS[data.task])})
    return summary.sort_values(["metric", "representation", "n_labels"],
                               key=lambda s: s if s.name == "n_labels" else s.map(order),
                               kind="stable").reset_index(drop=True)
