"""Linear probes and same-patient retrieval on representation tables.

What PCLR claims is that a linear model on its frozen representation needs
few labels. `probe` measures that: for each number of labelled ECGs, random
training subsets are drawn from the training side of a fixed, patient-grouped
split, a regularised linear model (logistic regression for a binary target,
ridge for a continuous one) is fitted with its regularisation chosen by
cross-validation grouped by patient *inside the subset*, and it is scored on
the fixed held-out ECGs. Every representation sees the same subsets and the
same held-out set, so their numbers compare pair by pair. `retrieval`
measures what PCLR optimises, without labels: how often an ECG's nearest
neighbour is another ECG of the same patient. `write_report` writes one
table (CSV and Markdown) and one plot per target.

Inputs are tables: a representation is a DataFrame (or a Parquet / CSV /
NPZ file) with `ecg_id`, optionally `patient_id`, and feature columns; labels
are a DataFrame or CSV with `ecg_id`, `patient_id` and target columns (the
`labels.csv` of `pclr tensorize`). Nothing here imports TensorFlow: a
network trained from scratch enters `probe` as a callable (see `probe`).

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
import inspect
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ID = "ecg_id"
PATIENT = "patient_id"
DEFAULT_LABEL_COUNTS = (50, 100, 250, 500, 1000, 2500, 5000)
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
METRICS = {"binary": ("auroc", "average_precision"), "continuous": ("r2", "mae")}
METRIC_NAMES = {"auroc": "AUROC", "average_precision": "average precision", "r2": "R²",
                "mae": "MAE"}
# Regularisation grids; features are standardised first.
LOGISTIC_CS = tuple(np.logspace(-4, 2, 13))
RIDGE_ALPHAS = tuple(np.logspace(-2, 5, 15))


# --------------------------------------------------------------------------- inputs

def _ids(values):
    """Ids as strings; integral floats (1.0 from a CSV column with gaps) as integers."""
    values = pd.Series(values)
    if pd.api.types.is_float_dtype(values):
        return np.array(["nan" if np.isnan(v) else str(int(v)) if float(v).is_integer()
                         else str(v) for v in values], dtype=object)
    return values.astype(str).to_numpy()


def read_table(source):
    """A DataFrame from a DataFrame, a `.parquet`, `.csv`/`.tsv` or `.npz` file.

    An `.npz` needs an `embeddings` array (n, d) and an `ecg_id`, `ecg_ids`
    or `sources` array; `patient_id` / `patient_ids` are used when present.
    Feature columns are named `embed_000`, `embed_001`, ...
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",",
                           dtype={ID: str, PATIENT: str})
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            matrix = np.asarray(data["embeddings"])
            id_key = next((k for k in ("ecg_id", "ecg_ids", "sources") if k in data), None)
            if id_key is None:
                raise ValueError(f"{path}: an .npz needs 'ecg_id' (or 'sources') beside "
                                 "'embeddings'")
            frame = pd.DataFrame({ID: data[id_key].astype(str)})
            patient_key = next((k for k in ("patient_id", "patient_ids") if k in data), None)
            if patient_key:
                frame[PATIENT] = data[patient_key].astype(str)
        width = max(3, len(str(matrix.shape[1] - 1)))
        columns = [f"embed_{i:0{width}d}" for i in range(matrix.shape[1])]
        return pd.concat([frame, pd.DataFrame(matrix, columns=columns)], axis=1)
    raise ValueError(f"{path}: expected .parquet, .csv, .tsv or .npz")


def feature_columns(frame, prefix=None):
    """The feature columns of a representation table.

    Args:
        frame: DataFrame.
        prefix: str or None. Columns starting with it; None: every numeric
            column other than `ecg_id` and `patient_id`.
    """
    if prefix is not None:
        columns = [c for c in frame.columns if str(c).startswith(prefix)]
    else:
        columns = [c for c in frame.columns if c not in (ID, PATIENT)
                   and pd.api.types.is_numeric_dtype(frame[c])
                   and not pd.api.types.is_bool_dtype(frame[c])]
    if not columns:
        raise ValueError(f"no feature columns{f' starting with {prefix!r}' if prefix else ''}"
                         f" among {list(frame.columns)[:10]}")
    return columns


def load_representation(source, *, prefix=None):
    """A representation table: `ecg_id`, `patient_id` if known, then features (float).

    Args:
        source: DataFrame or path (see `read_table`).
        prefix: str or None. Feature column prefix (see `feature_columns`).
    """
    frame = read_table(source)
    if ID not in frame.columns:
        raise ValueError(f"a representation needs an {ID!r} column; got {list(frame.columns)[:10]}")
    columns = feature_columns(frame, prefix)
    out = pd.DataFrame({ID: _ids(frame[ID])})
    if PATIENT in frame.columns:
        out[PATIENT] = _ids(frame[PATIENT])
    features = frame[columns].astype(np.float64).reset_index(drop=True)
    out = pd.concat([out, features], axis=1)
    if out[ID].duplicated().any():
        raise ValueError(f"duplicated ecg_id in a representation, e.g. "
                         f"{out[ID][out[ID].duplicated()].iloc[0]!r}")
    return out


def superclass_targets(labels, column="diagnostic_superclass", classes=SUPERCLASSES, sep=";"):
    """Binary columns, one per class, from a multi-label column.

    Args:
        labels: DataFrame with `column`, e.g. PTB-XL's `diagnostic_superclass`
            ("NORM", "CD;MI", ...). A Python-list spelling ("['CD', 'MI']")
            is accepted too.
        column: str. The multi-label column.
        classes: sequence of str. The classes to make columns of.
        sep: str. Separator between classes in a cell.

    Returns:
        DataFrame with the index of `labels` and one float column per class:
        1.0 where the class is listed, 0.0 where another one is, NaN where the
        cell is empty (an ECG without a label is not a negative; `probe`
        leaves it out). Join it to `labels` with `labels.join(...)`.
    """
    def parse(cell):
        if cell is None or (isinstance(cell, float) and math.isnan(cell)):
            return None
        text = str(cell).strip().strip("[]")
        parts = [p.strip().strip("'\"") for p in text.replace(",", sep).split(sep)]
        parts = {p for p in parts if p}
        return parts or None

    sets = labels[column].map(parse)
    return pd.DataFrame({c: sets.map(lambda s, c=c: np.nan if s is None else float(c in s))
                         for c in classes}, index=labels.index)


# ----------------------------------------------------------------------- metrics
# Each takes y (n,), predictions (n,) and weights W (b, n) (bootstrap
# multiplicities; a row of ones is the plain metric) and returns (b,).

def _weighted_auroc(y, score, weights):
    unique, inverse = np.unique(score, return_inverse=True)
    pos = np.zeros((weights.shape[0], len(unique)))
    neg = np.zeros_like(pos)
    np.add.at(pos.T, inverse[y == 1], weights[:, y == 1].T)
    np.add.at(neg.T, inverse[y == 0], weights[:, y == 0].T)
    below = np.cumsum(neg, axis=1) - neg               # negatives with a lower score
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / total, np.nan)


def _weighted_average_precision(y, score, weights):
    unique, inverse = np.unique(-score, return_inverse=True)   # descending scores
    pos = np.zeros((weights.shape[0], len(unique)))
    neg = np.zeros_like(pos)
    np.add.at(pos.T, inverse[y == 1], weights[:, y == 1].T)
    np.add.at(neg.T, inverse[y == 0], weights[:, y == 0].T)
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
    weights = np.ones((1, len(y))) if weights is None else np.atleast_2d(
        np.asarray(weights, np.float64))
    values = _METRIC_FUNCTIONS[name](y, prediction, weights)
    return float(values[0]) if single else values


def _patient_bootstrap(test_patients, n_boot, seed, chunk=100):
    """Yields (b, n_test) weights: patients drawn with replacement, chunk by chunk."""
    codes, _ = pd.factorize(test_patients)
    n_patients = codes.max() + 1
    rng = np.random.default_rng([seed, 2])
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = rng.multinomial(n_patients, np.full(n_patients, 1.0 / n_patients), size=b)
        yield counts[:, codes].astype(np.float64)


# ------------------------------------------------------------------- the probe

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


def _task_of(values, task):
    unique = pd.unique(values)
    if task == "auto":
        if len(unique) == 2:
            task = "binary"
        elif len(unique) > 2 and pd.api.types.is_numeric_dtype(values):
            task = "continuous"
        else:
            raise ValueError(f"cannot tell the task from {len(unique)} distinct values "
                             f"({list(unique[:5])}): a binary target needs exactly 2, a "
                             "continuous one numbers")
    if task == "binary":
        if len(unique) != 2:
            raise ValueError(f"a binary target needs exactly 2 values, got {list(unique[:5])}")
        positive = sorted(unique)[1]
        return task, (values == positive).astype(np.float64).to_numpy(), positive
    if task == "continuous":
        return task, pd.to_numeric(values).astype(np.float64).to_numpy(), None
    raise ValueError(f"task must be 'auto', 'binary' or 'continuous', got {task!r}")


def _held_out(test, frame, keep, seed):
    """Boolean mask over the rows of `frame` (aligned labels) for the held-out set."""
    if test is None or isinstance(test, float):
        from sklearn.model_selection import GroupShuffleSplit

        split = GroupShuffleSplit(n_splits=1, test_size=0.2 if test is None else test,
                                  random_state=seed)
        kept = np.flatnonzero(keep)
        _, test_rows = next(split.split(kept, groups=frame[PATIENT].to_numpy()[kept]))
        mask = np.zeros(len(frame), bool)
        mask[kept[test_rows]] = True
        return mask
    if isinstance(test, str):
        return frame.index.isin(frame.query(test).index)
    if isinstance(test, pd.Series) and test.dtype == bool:
        return test.reindex(frame["_index"], fill_value=False).to_numpy(bool)
    values = np.asarray(test)
    if values.dtype == bool:
        return values[frame["_row"].to_numpy()]
    return np.isin(frame[ID].to_numpy(), _ids(values))


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


def _neg_log_loss(estimator, X, y):
    """Mean log-likelihood of a binary classifier (scikit-learn's scorer, less overhead)."""
    p = np.clip(estimator.predict_proba(X)[:, 1], 1e-15, 1 - 1e-15)
    y = np.asarray(y) == estimator.classes_[1]
    return float(np.mean(np.where(y, np.log(p), np.log1p(-p))))


def _linear_model(task, folds, Cs, alphas, n_jobs):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if task == "binary":
        options = dict(Cs=list(Cs), cv=folds, scoring=_neg_log_loss, max_iter=5000,
                       n_jobs=n_jobs)
        defaults = {name: p.default for name, p in
                    inspect.signature(LogisticRegressionCV).parameters.items()}
        if defaults.get("penalty") == "deprecated":      # scikit-learn >= 1.8
            options["l1_ratios"] = (0.0,)
        if defaults.get("use_legacy_attributes") == "warn":
            options["use_legacy_attributes"] = False
        model = LogisticRegressionCV(**options)
    else:
        model = RidgeCV(alphas=list(alphas), cv=folds)
    # Imputation (hand-crafted features may be NaN) and scaling are fitted on
    # the training subset only.
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                         StandardScaler(), model)


def _fit_predict(matrix, train, test, y, task, folds, Cs, alphas, n_jobs, blas_threads):
    from threadpoolctl import threadpool_limits

    model = _linear_model(task, folds, Cs, alphas, n_jobs)
    # These problems are small: a multi-threaded BLAS is slower, and on a
    # machine with more cores visible than usable, by orders of magnitude.
    with warnings.catch_warnings(), threadpool_limits(limits=blas_threads, user_api="blas"):
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(matrix[train], y[train])
    final = model[-1]
    if task == "binary":
        return model.predict_proba(matrix[test])[:, 1], float(np.ravel(final.C_)[0])
    return model.predict(matrix[test]), float(final.alpha_)


def _check_disjoint(train_patients, test_patients, what):
    shared = set(train_patients) & set(test_patients)
    if shared:
        raise ValueError(f"{len(shared)} patients have ECGs on both sides of {what} (e.g. "
                         f"{sorted(shared)[:3]}); split by patient so none does")


def probe(representations, labels, target, *, task="auto", label_counts=DEFAULT_LABEL_COUNTS,
          repeats=5, test=None, seed=0, bootstrap=1000, prefix=None, cv=5, min_labels=20,
          min_per_class=2, Cs=LOGISTIC_CS, alphas=RIDGE_ALPHAS, n_jobs=None, blas_threads=1,
          progress=False):
    """Linear probes of several representations at several numbers of labels.

    Args:
        representations: dict name -> representation. A representation is a
            DataFrame or path (see `load_representation`), or a callable
            `fit_predict(train_ecg_ids, y_train, train_patients, test_ecg_ids,
            *, task, seed) -> predictions for test_ecg_ids` (e.g. a network
            trained from scratch on the same labels): it gets exactly the
            subsets the linear probes get (y 0/1 for a binary target; return
            the positive class's score), and a seed per subset.
        labels: DataFrame or CSV path with `ecg_id`, the `target` column and
            `patient_id` (else the representations' `patient_id`).
        target: str. The column to predict; rows where it is missing are left out.
        task: "auto" (binary if the target has 2 distinct values, else
            continuous), "binary" (logistic regression; the larger value is
            the positive class) or "continuous" (ridge).
        label_counts: sequence of int. Numbers of labelled ECGs. Counts above
            the training side's size are replaced by that size (fitted once,
            since every subset would be the same); counts below `min_labels`
            are left out.
        repeats: int. Random training subsets per count.
        test: the held-out set, fixed for every count, repeat and
            representation. None or a float: that fraction of the patients
            (default 0.2), by `GroupShuffleSplit`; a str: a query on the
            labels (`"strat_fold >= 9"`, PTB-XL's split); a boolean array /
            Series aligned with the rows of `labels`; or a list of `ecg_id`s.
            The training side is everything else. A patient on both sides
            raises `ValueError`.
        seed: int. Subsets, folds, the split and the bootstrap follow from it.
        bootstrap: int. Patient-level resamples of the held-out set for the
            95 % intervals (see the module docstring); 0: no intervals.
        prefix: str or None. Feature column prefix in the representations.
        cv: int. Folds, grouped by patient within each training subset (and
            stratified for a binary target), that choose the regularisation.
        min_labels: int. Smallest count used.
        min_per_class: int. A binary subset needs this many ECGs of each
            class; a subset short of it is drawn again (up to 100 times),
            then left out and reported in `info["skipped"]`.
        Cs, alphas: the regularisation grids of `LogisticRegressionCV` and
            `RidgeCV` (features are standardised on the training subset).
        n_jobs: passed to `LogisticRegressionCV` (folds in parallel).
        blas_threads: int or None. BLAS threads while fitting; 1 is fastest
            for these small problems; None leaves the BLAS as it is.
        progress: bool. Show a progress bar.

    Returns:
        A `ProbeResult` (`.summary` is what `write_report` takes).

    Only ECGs present in every table representation (and with the target)
    are used, so all representations are compared on the same ECGs.
    Subsets are drawn uniformly by ECG from the training side: a patient may
    give several ECGs to a subset, and the folds keep them together.
    """
    labels = read_table(labels)
    if ID not in labels.columns or target not in labels.columns:
        raise ValueError(f"labels need {ID!r} and {target!r} columns")
    tables = {name: load_representation(r, prefix=prefix)
              for name, r in representations.items() if not callable(r)}
    data = _ProbeData.of(labels, target, tables, task, test, seed, min_per_class)
    n_train = len(data.train_side)
    counts = sorted({min(int(c), n_train) for c in label_counts if int(c) >= min_labels})
    if not counts:
        raise ValueError(f"no label count >= min_labels={min_labels} in {list(label_counts)}")
    jobs = [(n, r) for n in counts for r in range(1 if n == n_train else repeats)]
    skipped, splits, rows, predictions = _fit_subsets(
        data, representations, target, jobs, seed=seed, cv=cv, min_per_class=min_per_class,
        fitting=(Cs, alphas, n_jobs, blas_threads), progress=progress)

    scores = pd.DataFrame(rows, columns=["representation", "target", "task", "n_labels",
                                         "repeat", "metric", "value", "regularization",
                                         "n_train_patients"])
    boot = _bootstrap(predictions, data, bootstrap, seed)
    summary = _summary(scores, boot, data, target, representations)
    positive = data.positive.item() if isinstance(data.positive, np.generic) else data.positive
    info = dict(task=data.task, positive=positive, n_train=n_train, n_test=len(data.test_rows),
                n_test_patients=len(np.unique(data.patients[data.test_rows])),
                label_counts=counts, skipped=skipped)
    for message in skipped:
        warnings.warn(f"probe {target}: {message}")
    return ProbeResult(scores, summary, splits, info)


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
        _check_disjoint(data.patients[subset], data.patients[data.test_rows],
                        "a training subset")
        splits.append(data.split_record(n, repeat, subset, folds))
        for name, representation in representations.items():
            prediction, regularization = data.predict(representation, name, subset, folds,
                                                      subset_seed, fitting)
            predictions.setdefault((name, n), []).append(prediction)
            rows += data.score_rows(name, target, n, repeat, subset, prediction, regularization)
    return skipped, splits, rows, predictions


def _aligned_labels(labels, target, tables):
    """The labels with `ecg_id` and `patient_id` as str (patients from a table if the
    labels have none), checked against the tables; `_index`/`_row` keep the original rows."""
    frame = labels.assign(_index=labels.index).reset_index(drop=True).assign(
        _row=np.arange(len(labels)))
    frame[ID] = _ids(frame[ID])
    if frame[ID].duplicated().any():
        raise ValueError(f"duplicated ecg_id in the labels, e.g. "
                         f"{frame[ID][frame[ID].duplicated()].iloc[0]!r}")
    if PATIENT not in frame.columns:
        source = next((t for t in tables.values() if PATIENT in t.columns), None)
        if source is None:
            raise ValueError("probe splits by patient: give `patient_id` in the labels or a "
                             "representation (use ecg_id as patient_id if each ECG is its own "
                             "patient)")
        frame = frame.merge(source[[ID, PATIENT]], on=ID, how="inner")
    frame[PATIENT] = _ids(frame[PATIENT])
    for name, table in tables.items():
        if PATIENT in table.columns:
            both = frame[[ID, PATIENT]].merge(table[[ID, PATIENT]], on=ID)
            if (both[f"{PATIENT}_x"] != both[f"{PATIENT}_y"]).any():
                raise ValueError(f"representation {name!r} gives other patient ids than the "
                                 "labels for the same ecg_id")
    missing = frame[PATIENT].isin(["", "nan", "None"])
    if missing.any():
        warnings.warn(f"{int(missing.sum())} ECGs without patient_id are treated as patients "
                      "of their own")
        frame.loc[missing, PATIENT] = "?ecg:" + frame.loc[missing, ID]
    return frame


@dataclasses.dataclass
class _ProbeData:
    """The ECGs a probe uses: ids, patients, targets, the two sides, feature matrices."""

    task: str
    positive: object
    ids: np.ndarray
    patients: np.ndarray
    y: np.ndarray
    train_side: np.ndarray
    test_rows: np.ndarray
    matrices: dict

    @classmethod
    def of(cls, labels, target, tables, task, test, seed, min_per_class):
        frame = _aligned_labels(labels, target, tables)
        keep = frame[target].notna().to_numpy() & ~frame[target].isin([""]).to_numpy()
        for table in tables.values():
            keep &= frame[ID].isin(table[ID]).to_numpy()
        test_mask = _held_out(test, frame, keep, seed)[keep]
        frame = frame[keep].reset_index(drop=True)
        task, y, positive = _task_of(frame[target], task)
        ids, patients = frame[ID].to_numpy(), frame[PATIENT].to_numpy()
        train_side, test_rows = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
        _check_disjoint(patients[train_side], patients[test_rows], "the held-out split")
        if len(test_rows) == 0 or len(train_side) == 0:
            raise ValueError(f"the split leaves {len(train_side)} training and "
                             f"{len(test_rows)} held-out ECGs with the target")
        if task == "binary":
            for side, rows in (("training", train_side), ("held-out", test_rows)):
                counts = np.bincount(y[rows].astype(int), minlength=2)
                if counts.min() < (min_per_class if side == "training" else 1):
                    raise ValueError(f"the {side} side has {counts.tolist()} ECGs of classes "
                                     f"0/1 of {target!r}")
        matrices = {name: table.set_index(ID).loc[ids, [c for c in table.columns
                                                         if c not in (ID, PATIENT)]].to_numpy()
                    for name, table in tables.items()}
        return cls(task, positive, ids, patients, y, train_side, test_rows, matrices)

    def draw_subset(self, n, repeat, seed, min_per_class):
        """`n` training rows drawn at random (a binary subset needs `min_per_class` of
        each class: up to 100 draws), sorted; None if no draw had them."""
        rng = np.random.default_rng([seed, 1, n, repeat])
        for _ in range(100):
            subset = np.sort(rng.choice(self.train_side, size=n, replace=False))
            if self.task != "binary" or \
                    np.bincount(self.y[subset].astype(int), minlength=2).min() >= min_per_class:
                return subset
        return None

    def split_record(self, n, repeat, subset, folds):
        """What was fitted on what, for `ProbeResult.splits`."""
        return dict(n_labels=n, repeat=repeat, train_ecg_ids=self.ids[subset],
                    test_ecg_ids=self.ids[self.test_rows], train_patients=self.patients[subset],
                    test_patients=self.patients[self.test_rows], cv_folds=folds)

    def predict(self, representation, name, subset, folds, subset_seed, fitting):
        """(held-out predictions, chosen regularisation) of one representation."""
        if callable(representation):
            prediction = np.asarray(representation(
                self.ids[subset], self.y[subset], self.patients[subset],
                self.ids[self.test_rows], task=self.task, seed=subset_seed),
                np.float64).reshape(-1)
            return prediction, np.nan
        Cs, alphas, n_jobs, blas_threads = fitting
        return _fit_predict(self.matrices[name], subset, self.test_rows, self.y, self.task,
                            folds, Cs, alphas, n_jobs, blas_threads)

    def score_rows(self, name, target, n, repeat, subset, prediction, regularization):
        """One `scores` row per metric of the task."""
        return [dict(representation=name, target=target, task=self.task, n_labels=n,
                     repeat=repeat, metric=key,
                     value=metric(key, self.y[self.test_rows], prediction),
                     regularization=regularization,
                     n_train_patients=len(np.unique(self.patients[subset])))
                for key in METRICS[self.task]]


def _bootstrap(predictions, data, bootstrap, seed):
    """(name, n, metric) -> per-resample means over repeats, for the intervals."""
    y_test, test_patients = data.y[data.test_rows], data.patients[data.test_rows]
    boot = {}
    if not bootstrap:
        return boot
    for weights in _patient_bootstrap(test_patients, bootstrap, seed):
        for (name, n), preds in predictions.items():
            for key in METRICS[data.task]:
                per_repeat = np.stack([_METRIC_FUNCTIONS[key](y_test, p, weights)
                                       for p in preds], axis=1)       # (b, repeats)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    boot.setdefault((name, n, key), []).append(np.nanmean(per_repeat, axis=1))
    return boot


def _summary(scores, boot, data, target, representations):
    """`ProbeResult.summary`: mean, 95 % interval and spread per representation, count, metric."""
    summary_rows = []
    n_test_patients = len(np.unique(data.patients[data.test_rows]))
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
    summary = pd.DataFrame(summary_rows, columns=[
        "representation", "target", "task", "metric", "n_labels", "repeats", "mean", "ci_low",
        "ci_high", "std_repeats", "n_test", "n_test_patients"])
    order = {name: i for i, name in enumerate(representations)}
    order.update({key: i for i, key in enumerate(METRICS[data.task])})
    return summary.sort_values(["metric", "representation", "n_labels"],
                               key=lambda s: s if s.name == "n_labels" else s.map(order),
                               kind="stable").reset_index(drop=True)


# -------------------------------------------------------------------- retrieval

def _chance(n_candidates, others, k):
    """P(at least one of `others` among k of `n_candidates` drawn at random)."""
    k = min(k, n_candidates)
    miss = np.ones(len(others))
    for i in range(k):
        miss *= np.clip(n_candidates - others - i, 0, None) / (n_candidates - i)
    return 1.0 - miss


def retrieval(embeddings, patients=None, *, k=(1, 5), prefix=None, chunk_size=1024):
    """Same-patient retrieval: how often an ECG's nearest neighbours include its patient.

    Every ECG of a patient with two ECGs or more in the given set is a
    query; its neighbours are all other given ECGs (other patients' single
    ECGs included), ranked by cosine similarity.

    Args:
        embeddings: array (n, d), or a representation table (DataFrame or
            path) whose `patient_id` is used when `patients` is None.
        patients: array (n,) of patient ids, or None.
        k: sequence of int. Neighbourhood sizes.
        prefix: str or None. Feature column prefix of a table.
        chunk_size: int. Queries compared at once (bounds memory).

    Returns:
        dict: n_ecgs, n_queries, n_patients (with >= 2 ECGs), and for each k
        `top{k}` (fraction of queries with another ECG of their patient among
        their k nearest) and `chance_top{k}` (its expectation under random
        neighbours: the mean over queries of 1 - C(N-1-m, k) / C(N-1, k),
        N ECGs, m the query's patient's other ECGs).
    """
    if not isinstance(embeddings, np.ndarray):
        table = load_representation(embeddings, prefix=prefix)
        if patients is None:
            if PATIENT not in table.columns:
                raise ValueError("retrieval needs patient ids")
            patients = table[PATIENT].to_numpy()
        embeddings = table[[c for c in table.columns if c not in (ID, PATIENT)]].to_numpy()
    matrix = np.asarray(embeddings, np.float64)
    codes, _ = pd.factorize(np.asarray(patients))
    if len(codes) != len(matrix):
        raise ValueError(f"{len(codes)} patient ids for {len(matrix)} embeddings")
    ks = sorted({int(v) for v in k})
    n = len(matrix)
    others = np.bincount(codes)[codes] - 1
    queries = np.flatnonzero(others >= 1)
    result = dict(n_ecgs=n, n_queries=len(queries), n_patients=int(len(np.unique(codes[queries]))))
    if len(queries) == 0:
        raise ValueError("no patient has two ECGs or more: nothing to retrieve")
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    top = min(max(ks), n - 1)
    hits = {v: np.zeros(len(queries), bool) for v in ks}
    for start in range(0, len(queries), chunk_size):
        batch = queries[start:start + chunk_size]
        similarity = unit[batch] @ unit.T
        similarity[np.arange(len(batch)), batch] = -np.inf
        nearest = np.argpartition(-similarity, top - 1, axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(similarity, nearest, axis=1), axis=1,
                           kind="stable")
        nearest = np.take_along_axis(nearest, order, axis=1)
        same = codes[nearest] == codes[batch][:, None]
        for v in ks:
            hits[v][start:start + len(batch)] = same[:, :v].any(axis=1)
    for v in ks:
        result[f"top{v}"] = float(hits[v].mean())
        result[f"chance_top{v}"] = float(_chance(n - 1, others[queries], v).mean())
    return result


def retrieval_table(representations, *, ecg_ids=None, k=(1, 5), prefix=None, patients=None):
    """`retrieval` for several representations on the same ECGs, as a table.

    Args:
        representations: dict name -> representation table (DataFrame or path).
        ecg_ids: ids to keep (e.g. the held-out ECGs), or None for all; ECGs
            missing from a representation are left out of all of them.
        k: sequence of int.
        prefix: str or None. Feature column prefix.
        patients: DataFrame with `ecg_id` and `patient_id` (e.g. the labels),
            used when the representations have no `patient_id`.

    Returns:
        DataFrame, one row per representation: n_ecgs, n_queries,
        n_patients, top{k}, chance_top{k}.
    """
    tables = {name: load_representation(r, prefix=prefix) for name, r in representations.items()}
    common = None
    for table in tables.values():
        common = set(table[ID]) if common is None else common & set(table[ID])
    if ecg_ids is not None:
        common &= set(_ids(ecg_ids))
    lookup = None
    if patients is not None:
        patients = read_table(patients)
        lookup = pd.Series(_ids(patients[PATIENT]), index=_ids(patients[ID]))
    rows = []
    for name, table in tables.items():
        table = table[table[ID].isin(common)].sort_values(ID)
        who = (lookup.reindex(table[ID]).to_numpy() if lookup is not None
               else table[PATIENT].to_numpy())
        if pd.isna(who).any():
            raise ValueError(f"{name}: ECGs without a patient id")
        features = table[[c for c in table.columns if c not in (ID, PATIENT)]].to_numpy()
        rows.append(dict(representation=name, **retrieval(features, who, k=k)))
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------- report

def _metric_selection(summary, metric_names):
    present = list(dict.fromkeys(summary["metric"]))
    if metric_names is None:
        return {m: METRIC_NAMES.get(m, m) for m in present}
    if isinstance(metric_names, dict):
        return {m: name for m, name in metric_names.items() if m in present}
    return {m: METRIC_NAMES.get(m, m) for m in metric_names if m in present}


def _cell(row):
    if row is None:
        return "n/a"
    if np.isfinite(row["ci_low"]):
        return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    return f"{row['mean']:.3f}"


def _fewer_repeats(table):
    """Lines naming representations fitted on fewer subsets than the header says."""
    most = table.groupby("n_labels")["repeats"].transform("max")
    lines = []
    for name, rows in table[table["repeats"] < most].groupby("representation", sort=False):
        lines += [f"Fewer repeats for {name}: " + ", ".join(
            f"{int(r.n_labels)}: {int(r.repeats)}" for r in rows.itertuples()) + ".", ""]
    return lines


def markdown_report(summary, metric_names=None, retrieval=None):
    """The Markdown of `write_report`: per target and metric, representation x label count."""
    metrics = _metric_selection(summary, metric_names)
    lines = ["# Linear probes", "",
             "Mean over training subsets of the metric on the held-out ECGs; in brackets, "
             "the 95 % interval from resampling held-out patients (see "
             "`pclr_keras.evaluate`). Columns: number of labelled ECGs.", ""]
    for target, by_target in summary.groupby("target", sort=False):
        first = by_target.iloc[0]
        for key, name in metrics.items():
            table = by_target[by_target["metric"] == key]
            if table.empty:
                continue
            counts = sorted(table["n_labels"].unique())
            lines += [f"## {target}: {name}", "",
                      f"{int(first['n_test'])} held-out ECGs of {int(first['n_test_patients'])}"
                      f" patients; repeats per count: "
                      + ", ".join(f"{n}: {int(table[table.n_labels == n].repeats.max())}"
                                  for n in counts), "",
                      *_fewer_repeats(table),
                      "| representation | " + " | ".join(str(n) for n in counts) + " |",
                      "|---|" + "---|" * len(counts)]
            for representation, rows in table.groupby("representation", sort=False):
                by_count = {r["n_labels"]: r for _, r in rows.iterrows()}
                lines.append(f"| {representation} | " + " | ".join(
                    _cell(by_count.get(n)) for n in counts) + " |")
            lines.append("")
    if retrieval is not None and len(retrieval):
        ks = [c[3:] for c in retrieval.columns if c.startswith("top")]
        lines += ["# Same-patient retrieval", "",
                  "Fraction of ECGs (of patients with >= 2 ECGs) whose k nearest neighbours "
                  "by cosine include another ECG of the same patient; chance in brackets.", "",
                  "| representation | ECGs | queries | " + " | ".join(f"top-{k}" for k in ks)
                  + " |", "|---|---|---|" + "---|" * len(ks)]
        for _, row in retrieval.iterrows():
            lines.append(f"| {row['representation']} | {int(row['n_ecgs'])} | "
                         f"{int(row['n_queries'])} | " + " | ".join(
                             f"{row[f'top{k}']:.3f} ({row[f'chance_top{k}']:.3f})" for k in ks)
                         + " |")
        lines.append("")
    return "\n".join(lines)


def plot_probe(summary, path, metric_names=None):
    """Metric vs number of labels (log x), a line and 95 % band per representation.

    One PNG for one target: one panel per metric.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # An Agg canvas of our own: no pyplot, so no global backend is touched.
    metrics = _metric_selection(summary, metric_names)
    figure = Figure(figsize=(5.2 * len(metrics), 4.0))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)
    target = summary["target"].iloc[0]
    for ax, (key, name) in zip(axes[0], metrics.items()):
        table = summary[summary["metric"] == key]
        for representation, rows in table.groupby("representation", sort=False):
            rows = rows.sort_values("n_labels")
            line, = ax.plot(rows["n_labels"], rows["mean"], marker="o", label=representation)
            if rows["ci_low"].notna().any():
                ax.fill_between(rows["n_labels"], rows["ci_low"], rows["ci_high"],
                                color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_xlabel("number of labelled ECGs")
        ax.set_ylabel(name)
        ax.set_title(f"{target}: {name}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return Path(path)


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def write_report(summary, out_dir, metric_names=None, *, retrieval=None):
    """Writes the probe table (CSV + Markdown) and one plot per target.

    Args:
        summary: DataFrame, `ProbeResult.summary` (several targets may be
            concatenated).
        out_dir: str or Path. Created if needed.
        metric_names: None (every metric, default names), a list of metric
            keys, or a dict key -> display name (those metrics, in that order).
        retrieval: optional DataFrame from `retrieval_table`; written as
            `retrieval.csv` and a section of the Markdown.

    Returns:
        dict name -> Path: csv (`probe_results.csv`), markdown
        (`probe_results.md`), `plot_<target>` (`probe_<target>.png`) and
        `retrieval` when given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = dict(csv=out / "probe_results.csv", markdown=out / "probe_results.md")
    summary.to_csv(paths["csv"], index=False)
    paths["markdown"].write_text(markdown_report(summary, metric_names, retrieval),
                                 encoding="utf-8")
    for target, rows in summary.groupby("target", sort=False):
        paths[f"plot_{target}"] = plot_probe(rows, out / f"probe_{_safe(target)}.png",
                                             metric_names)
    if retrieval is not None:
        paths["retrieval"] = out / "retrieval.csv"
        retrieval.to_csv(paths["retrieval"], index=False)
    return paths
