"""Patient-resampled macro AUROC intervals over one fixed label set."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pclr_keras.evaluation.intervals import (macro_auroc_interval,
                                             paired_macro_auroc_difference, patient_resamples)


def cohort(n_patients=300, ecgs_per_patient=4, labels=3, seed=0):
    """Patients whose ECGs share their label and most of their score (repeat ECGs)."""
    rng = np.random.default_rng(seed)
    patients = np.repeat(np.arange(n_patients), ecgs_per_patient)
    truth = rng.random((n_patients, labels)) < 0.3
    y = truth[patients].astype(np.int8)
    patient_noise = rng.normal(0, 1.0, (n_patients, labels))[patients]
    scores = y + patient_noise + rng.normal(0, 0.1, y.shape)
    return y, scores, patients


def test_the_figure_is_scikit_learns_macro_auroc_over_labels_with_both_classes():
    y, scores, patients = cohort()
    y[:, 2] = 0  # one class only: not in the label set
    result = macro_auroc_interval(y, scores, patients, n_boot=200)
    assert result["labels"] == 2
    assert result["auroc"] == pytest.approx(roc_auc_score(y[:, :2], scores[:, :2]))
    low, high = result["ci95"]
    assert low < result["auroc"] < high


def test_resamples_draw_whole_patients_and_keep_every_label():
    y, _, patients = cohort(n_patients=60)
    y[:, 0] = 0
    y[patients == 7, 0] = 1  # one positive patient: many draws miss it
    weights, draws = patient_resamples(y, patients, n_boot=300, seed=1)
    assert weights.shape == (300, len(y)) and draws > 300
    assert ((weights @ y) > 0).all() and ((weights @ (1 - y)) > 0).all()
    for patient in (0, 7, 59):  # every ECG of a patient is drawn as often as the others
        assert (weights[:, patients == patient] == weights[:, [np.argmax(patients == patient)]]).all()
    assert weights.sum(axis=1) == pytest.approx(np.full(300, len(y)))


def test_patient_intervals_are_wider_than_ecg_intervals_when_ecgs_repeat_a_patient():
    y, scores, patients = cohort(ecgs_per_patient=6)
    by_patient = np.diff(macro_auroc_interval(y, scores, patients, n_boot=400)["ci95"])[0]
    by_ecg = np.diff(macro_auroc_interval(y, scores, None, n_boot=400)["ci95"])[0]
    assert by_patient > 1.8 * by_ecg  # sqrt(6) in theory


def test_a_rare_label_keeps_the_interval_centred_on_the_figure():
    y, scores, patients = cohort(n_patients=200, labels=4, seed=2)
    y[:, 3] = 0
    y[patients == 5, 3] = 1
    scores[:, 3] = np.random.default_rng(0).normal(size=len(y))  # a label scored at chance
    result = macro_auroc_interval(y, scores, patients, n_boot=500)
    low, high = result["ci95"]
    assert abs((low + high) / 2 - result["auroc"]) < 0.25 * (high - low)


def test_too_rare_labels_are_refused_with_a_reason():
    rng = np.random.default_rng(0)
    y = np.zeros((400, 20), np.int8)
    y[rng.permutation(400)[:20], np.arange(20)] = 1  # twenty labels of one ECG each
    with pytest.raises(ValueError, match="keep every label"):
        macro_auroc_interval(y, rng.normal(size=y.shape), n_boot=100)


def test_paired_difference_is_antisymmetric_and_excludes_zero_for_a_real_gain():
    y, scores, patients = cohort()
    rng = np.random.default_rng(5)
    better = scores + 0.5 * (y - 0.5) + rng.normal(0, 0.05, y.shape)
    paired = paired_macro_auroc_difference(y, scores, better, patients, n_boot=300)
    expected = roc_auc_score(y, better) - roc_auc_score(y, scores)
    assert paired["difference"] == pytest.approx(expected)
    assert 0 < paired["ci95"][0] < paired["difference"] < paired["ci95"][1]
    assert paired["p_not_better"] == 0
    swapped = paired_macro_auroc_difference(y, better, scores, patients, n_boot=300)
    assert swapped["ci95"] == pytest.approx([-paired["ci95"][1], -paired["ci95"][0]])
