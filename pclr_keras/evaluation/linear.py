"""The linear model a probe fits: regularised, its strength chosen by patient-grouped CV.

Logistic regression for a binary target, ridge for a continuous one, after
median imputation (hand-crafted features may be NaN) and standardisation,
both fitted on the training subset only.
"""

import inspect
import warnings

import numpy as np

# Regularisation grids; features are standardised first.
LOGISTIC_CS = tuple(np.logspace(-4, 2, 13))
RIDGE_ALPHAS = tuple(np.logspace(-2, 5, 15))


def _neg_log_loss(estimator, X, y):
    """Mean log-likelihood of a binary classifier (scikit-learn's scorer, less overhead)."""
    p = np.clip(estimator.predict_proba(X)[:, 1], 1e-15, 1 - 1e-15)
    y = np.asarray(y) == estimator.classes_[1]
    return float(np.mean(np.where(y, np.log(p), np.log1p(-p))))


def linear_model(task, folds, Cs, alphas, n_jobs):
    """An unfitted pipeline: imputation, scaling, then `LogisticRegressionCV` or `RidgeCV`."""
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
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                         StandardScaler(), model)


def fit_predict(matrix, train, test, y, task, folds, Cs, alphas, n_jobs, blas_threads):
    """Fits on rows `train` of `matrix`; (predictions for rows `test`, chosen C or alpha)."""
    from threadpoolctl import threadpool_limits

    model = linear_model(task, folds, Cs, alphas, n_jobs)
    # These problems are small: a multi-threaded BLAS is slower, and on a
    # machine with more cores visible than usable, by orders of magnitude.
    with warnings.catch_warnings(), threadpool_limits(limits=blas_threads, user_api="blas"):
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(matrix[train], y[train])
    final = model[-1]
    if task == "binary":
        return model.predict_proba(matrix[test])[:, 1], float(np.ravel(final.C_)[0])
    return model.predict(matrix[test]), float(final.alpha_)
