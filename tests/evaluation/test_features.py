"""Hand-crafted ECG features: shapes, a known heart rate, known band powers."""

import copy

import numpy as np
import pandas as pd
import pytest

from pclr_keras import synthetic
from pclr_keras.evaluation.features import (BANDS_HZ, RHYTHM_FEATURES, feature_names,
                                            handcrafted_features, handcrafted_from_tensors,
                                            r_peaks)
from pclr_keras.variants import STANDARD_LEADS

FS = 409.6  # the pclr variant's rate


def _cohort_ecgs(n, seed=0, fs=FS):
    rng = np.random.default_rng(seed)
    patients = [synthetic._patient(rng) for _ in range(n)]
    return np.array([synthetic.synthetic_ecg(p, rng, fs=fs) for p in patients], np.float32)


def _spike_ecg(rate_bpm, fs=FS, seconds=10.0, qrs_width_s=0.012, seed=0):
    """Lead-like signals with a QRS at exactly `rate_bpm`, T waves, wander and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    beats = np.arange(0.4, seconds, 60.0 / rate_bpm)
    qrs = sum(np.exp(-((t - b) / qrs_width_s) ** 2) for b in beats)
    twave = sum(np.exp(-((t - b - 0.28) / 0.05) ** 2) for b in beats)
    gains = np.linspace(-1.0, 1.5, 12)
    signal = np.outer(qrs, gains) + 0.3 * np.outer(twave, np.abs(gains))
    signal += 0.15 * np.sin(2 * np.pi * 0.25 * t)[:, None]
    return (signal + rng.normal(scale=0.02, size=signal.shape)).astype(np.float32)


def test_shapes_names_and_finite_values():
    ecgs = _cohort_ecgs(6)
    features = handcrafted_features(ecgs, FS)
    per_lead = len(feature_names(["I"])) - len(RHYTHM_FEATURES)
    assert features.shape == (6, 12 * per_lead + len(RHYTHM_FEATURES))
    assert 100 <= features.shape[1] <= 200
    assert list(features.columns) == feature_names(STANDARD_LEADS)
    assert features.columns.is_unique
    assert np.isfinite(features.to_numpy()).all()
    # One ECG (samples, leads) gives one row; chunking does not change values.
    np.testing.assert_allclose(handcrafted_features(ecgs[2], FS).to_numpy()[0],
                               features.to_numpy()[2])
    np.testing.assert_allclose(handcrafted_features(ecgs, FS, chunk_size=4).to_numpy(),
                               features.to_numpy())


def test_single_lead_and_errors():
    one = _cohort_ecgs(2)[:, :, 1:2]
    features = handcrafted_features(one, FS, ["II"])
    assert features.shape == (2, len(feature_names(["II"])))
    assert "II_qrs_max" in features and "heart_rate_bpm" in features
    assert list(handcrafted_features(one, FS).columns)[0] == "lead0_mean"
    with pytest.raises(ValueError, match="lead names"):
        handcrafted_features(one, FS, ["I", "II"])
    with pytest.raises(ValueError, match="2 s"):
        handcrafted_features(one[:, :100], FS)


@pytest.mark.parametrize("rate", [48.0, 75.0, 130.0])
def test_known_heart_rate_is_recovered(rate):
    ecg = _spike_ecg(rate)
    features = handcrafted_features(ecg, FS).iloc[0]
    assert features["heart_rate_bpm"] == pytest.approx(rate, rel=0.01)
    assert features["rr_std_ms"] < 5.0
    expected_beats = len(np.arange(0.4, 10.0, 60.0 / rate))
    assert abs(features["n_beats"] - expected_beats) <= 1
    peaks = r_peaks(ecg, FS)
    assert np.abs(np.diff(peaks) / FS - 60.0 / rate).max() < 0.01


def test_synthetic_patient_rate_within_its_day_to_day_drift():
    rng = np.random.default_rng(3)
    patient = synthetic._patient(rng)
    patient["heart_rate"] = 66.0
    ecgs = np.array([synthetic.synthetic_ecg(patient, rng, fs=500.0) for _ in range(4)])
    rates = handcrafted_features(ecgs, 500.0)["heart_rate_bpm"]
    assert ((rates > 66.0 * 0.92) & (rates < 66.0 * 1.08)).all()  # synthetic drift is +-7 %


def test_band_powers_follow_a_sine():
    t = np.arange(int(10 * FS)) / FS
    for frequency, expected in ((2.0, 0), (9.0, 1), (25.0, 2)):
        sine = np.sin(2 * np.pi * frequency * t)[:, None].repeat(3, axis=1).astype(np.float32)
        features = handcrafted_features(sine, FS, ["a", "b", "c"]).iloc[0]
        names = [f"a_logpow_{lo:g}_{hi:g}hz".replace(".", "p") for lo, hi in BANDS_HZ]
        powers = features[names].to_numpy()
        assert powers.argmax() == expected
        assert powers[expected] > powers.max(where=np.arange(3) != expected, initial=-99) + 2
        # A unit sine has power 1/2 mV^2.
        assert 10 ** powers[expected] == pytest.approx(0.5, rel=0.05)


def test_qrs_width_proxy_grows_with_the_qrs():
    widths = [handcrafted_features(_spike_ecg(70.0, qrs_width_s=w), FS)["qrs_width_ms"][0]
              for w in (0.008, 0.016, 0.03)]
    assert widths[0] < widths[1] < widths[2]
    rng = np.random.default_rng(1)
    patient = synthetic._patient(rng)
    wide = copy.deepcopy(patient)
    wide["widths"] = {k: v * (2.0 if k in "QRS" else 1.0) for k, v in patient["widths"].items()}
    narrow_ecg = synthetic.synthetic_ecg(patient, np.random.default_rng(5), fs=FS)
    wide_ecg = synthetic.synthetic_ecg(wide, np.random.default_rng(5), fs=FS)
    proxy = handcrafted_features(np.stack([narrow_ecg, wide_ecg]), FS)["qrs_width_ms"]
    assert proxy[1] > proxy[0] * 1.2


def test_beat_features_read_t_and_st():
    ecg = _spike_ecg(70.0)
    features = handcrafted_features(ecg, FS).iloc[0]
    gains = np.linspace(-1.0, 1.5, 12)
    for lead, gain in zip(STANDARD_LEADS, gains):
        assert features[f"{lead}_t_amp"] == pytest.approx(0.3 * abs(gain), abs=0.06)
        assert abs(features[f"{lead}_st_level"]) < 0.08
    assert features["V6_qrs_max"] == pytest.approx(1.5, rel=0.1)
    assert features["I_qrs_min"] == pytest.approx(-1.0, rel=0.1)


def test_features_of_a_tensorized_folder(tmp_path):
    from pclr_keras.synthetic import write_cohort
    from pclr_keras.tensorize import read_manifest, tensorize

    inputs, _ = read_manifest(write_cohort(tmp_path / "records", patients=3, seed=1))
    tensorize(inputs, tmp_path / "tensors", workers=1, progress=False, shard_size=4)
    table = handcrafted_from_tensors(tmp_path / "tensors")
    labels = pd.read_csv(tmp_path / "tensors" / "labels.csv", dtype=str)
    assert list(table["ecg_id"]) == list(labels["ecg_id"])
    assert list(table["patient_id"]) == list(labels["patient_id"])
    assert table.shape[1] == 2 + len(feature_names(STANDARD_LEADS))
    assert np.isfinite(table.iloc[:, 2:].to_numpy()).all()
