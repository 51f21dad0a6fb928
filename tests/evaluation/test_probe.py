"""Linear probes on synthetic representations: the signal found, the splits kept by patient."""

import subprocess
import sys

import numpy as np
import pytest

from pclr_keras.evaluation.linear import LOGISTIC_CS, RIDGE_ALPHAS
from pclr_keras.evaluation.probe import probe
from representation_cohort import summary_value, synthetic_cohort


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort()


@pytest.fixture(scope="module")
def binary_result(cohort):
    labels, good, random = cohort
    return probe({"good": good, "random": random}, labels, "y",
                 label_counts=(5, 50, 250, 100000), repeats=3, bootstrap=200, seed=1)


def test_probe_recovers_a_linear_signal_and_not_noise(binary_result):
    assert binary_result.info["task"] == "binary"
    assert binary_result.info["positive"] == 1
    assert summary_value(binary_result, "good", 250, "auroc") > 0.9
    assert summary_value(binary_result, "good", 250, "average_precision") > 0.8
    assert 0.35 < summary_value(binary_result, "random", 250, "auroc") < 0.65
    scores = binary_result.scores
    assert set(scores.metric) == {"auroc", "average_precision"}
    assert scores.regularization.isin(LOGISTIC_CS).all()


def test_label_counts_are_capped_and_monotone(binary_result):
    n_train = binary_result.info["n_train"]
    assert binary_result.info["label_counts"] == [50, 250, n_train]  # 5 < min_labels
    for _, rows in binary_result.summary.groupby(["representation", "metric"]):
        assert list(rows.n_labels) == [50, 250, n_train]
        assert list(rows.repeats) == [3, 3, 1]        # all training ECGs: one fit
    for split in binary_result.splits:
        assert len(split["train_ecg_ids"]) == split["n_labels"] <= n_train
        assert len(set(split["train_ecg_ids"])) == split["n_labels"]
    good_50 = summary_value(binary_result, "good", 50, "auroc")
    assert summary_value(binary_result, "good", n_train, "auroc") >= good_50 - 0.01


def test_intervals_contain_the_mean_and_narrow_with_more_held_out_data():
    labels, good, _ = synthetic_cohort(n_patients=600, seed=2, signal=0.7, noise=0.8)
    widths = {}
    for fraction in (0.1, 0.5):
        result = probe({"good": good}, labels, "y", label_counts=(200,), repeats=2,
                       test=fraction, bootstrap=300, seed=3)
        summary = result.summary
        assert (summary.ci_low <= summary["mean"]).all()
        assert (summary["mean"] <= summary.ci_high).all()
        assert 0.6 < summary_value(result, "good", 200, "auroc") < 0.95
        widths[fraction] = (summary.ci_high - summary.ci_low).to_numpy()
    assert (widths[0.1] > 1.4 * widths[0.5]).all(), widths


@pytest.mark.parametrize("split", ["grouped", "query", "mask"])
def test_no_patient_on_both_sides_and_grouped_folds(split):
    labels, good, _ = synthetic_cohort(n_patients=300, seed=4, max_ecgs=6)
    test = {"grouped": 0.3, "query": "strat_fold >= 9", "mask": labels.strat_fold >= 9}[split]
    result = probe({"good": good}, labels, "y", label_counts=(60, 150), repeats=3, test=test,
                   bootstrap=0, seed=5)
    patient_of = dict(zip(labels.ecg_id, labels.patient_id))
    assert len(result.splits) == 6
    for s in result.splits:
        train, held_out = set(s["train_patients"]), set(s["test_patients"])
        assert not train & held_out
        assert not set(s["train_ecg_ids"]) & set(s["test_ecg_ids"])
        assert {patient_of[e] for e in s["train_ecg_ids"]} == train
        for fold_train, fold_validation in s["cv_folds"]:
            assert not set(s["train_patients"][fold_train]) & \
                set(s["train_patients"][fold_validation])
        assert len(s["cv_folds"]) == 5
    # Every ECG of a held-out patient is held out.
    held_out = set(result.splits[0]["test_patients"])
    assert set(labels.ecg_id[labels.patient_id.isin(held_out)]) == \
        set(result.splits[0]["test_ecg_ids"])
    if split != "grouped":
        assert held_out == set(labels.patient_id[labels.strat_fold >= 9])
    assert np.isnan(result.summary.ci_low).all()      # bootstrap=0: no intervals


def test_a_split_by_ecg_that_puts_a_patient_on_both_sides_is_refused():
    labels, good, _ = synthetic_cohort(n_patients=100, seed=6)
    leaky = np.random.default_rng(0).random(len(labels)) < 0.3
    with pytest.raises(ValueError, match="both sides"):
        probe({"good": good}, labels, "y", label_counts=(50,), test=leaky, bootstrap=0)


def test_continuous_target_uses_ridge_with_r2_and_mae(cohort):
    labels, good, random = cohort
    result = probe({"good": good, "random": random}, labels, "age", label_counts=(50, 250),
                   repeats=2, bootstrap=100, seed=0)
    assert result.info["task"] == "continuous"
    assert set(result.summary.metric) == {"r2", "mae"}
    assert summary_value(result, "good", 250, "r2") > 0.7
    assert summary_value(result, "random", 250, "r2") < 0.1
    assert summary_value(result, "good", 250, "mae") < 0.6 * summary_value(
        result, "random", 250, "mae")
    assert result.scores.regularization.isin(RIDGE_ALPHAS).all()
    assert list(result.summary.metric.unique()) == ["r2", "mae"]


def test_string_binary_target_with_missing_values_and_ids_from_csv(cohort, tmp_path):
    labels, good, _ = cohort
    labels = labels.assign(sex=np.where(labels.y == 1, "M", "F")).astype({"sex": object})
    labels.loc[labels.index[::7], "sex"] = np.nan
    labels.drop(columns="patient_id").to_csv(tmp_path / "labels.csv", index=False)
    result = probe({"good": good}, tmp_path / "labels.csv", "sex", label_counts=(100,),
                   repeats=1, bootstrap=0)                    # patients from the table
    assert result.info["positive"] == "M"
    assert result.info["n_train"] + result.info["n_test"] == labels.sex.notna().sum()


def test_modules_do_not_import_tensorflow():
    code = ("import sys, pclr_keras.evaluation.probe, pclr_keras.evaluation.retrieval, "
            "pclr_keras.evaluation.report, pclr_keras.evaluation.features, "
            "pclr_keras.evaluation.ptbxl.protocol, pclr_keras.evaluate, pclr_keras.features; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

