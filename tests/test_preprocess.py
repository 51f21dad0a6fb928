"""Tests of pclr_keras.preprocess against plain-numpy references."""

import pickle

import numpy as np
import pytest

from pclr_keras.preprocess import (
    TOLERATED_FLAT_LEADS,
    ECGValidationError,
    normalize_lead_name,
    preprocess_batch,
    preprocess_ecg,
    resample_linear,
)
from pclr_keras.variants import STANDARD_LEADS, VARIANTS, parse_lead_set

RNG = np.random.default_rng(0)


def reference_resample(window, length):
    """ml4h's per-lead interpolation, one np.interp call per lead."""
    n = window.shape[0]
    return np.stack([
        np.interp(np.linspace(0, 1, length), np.linspace(0, 1, n), window[:, lead])
        for lead in range(window.shape[1])
    ], axis=-1)


def synthetic_ecg(fs, seconds=10.0, leads=STANDARD_LEADS, seed=0):
    """ECG-like leads: narrow Gaussian QRS bumps every 0.8 s, small noise.

    Each lead gets its own amplitude (aVR inverted, aVL small) and a distinct
    baseline offset so columns can be told apart.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * fs)) / fs
    beats = np.arange(0.3, seconds, 0.8)
    qrs = np.exp(-0.5 * ((t[:, None] - beats[None, :]) / 0.015) ** 2).sum(axis=1)
    columns = []
    for i, lead in enumerate(leads):
        amplitude = {"aVR": -1.2, "aVL": 0.15}.get(lead, 1.0 + 0.05 * i)
        columns.append(0.1 * i + amplitude * qrs + rng.normal(0, 0.01, t.size))
    return np.stack(columns, axis=-1)


def tagged_leads(n, leads=STANDARD_LEADS):
    """Lead i = i + sin: a distinct offset identifies each column."""
    t = np.linspace(0, 20 * np.pi, n)
    return {lead: i + np.sin(t * (1 + i / 10)) for i, lead in enumerate(leads)}


def assert_problem(excinfo, problem, *fragments):
    assert excinfo.value.problem == problem
    for fragment in fragments:
        assert fragment in str(excinfo.value)


# Resampling -----------------------------------------------------------------

@pytest.mark.parametrize("fs", [100, 250, 500, 1000])
@pytest.mark.parametrize("variant", ["pclr", "c3po"])
def test_resampling_equals_per_lead_np_interp(fs, variant):
    ecg = synthetic_ecg(fs)
    length = VARIANTS[variant].input_length
    result = preprocess_ecg(ecg, fs, list(STANDARD_LEADS), variant)
    np.testing.assert_allclose(
        result, reference_resample(ecg, length), rtol=1e-5, atol=1e-6)


def test_resample_linear_matches_np_interp_with_batch_dims():
    signals = RNG.normal(size=(2, 3, 1000, 4))
    result = resample_linear(signals, 4096)
    assert result.shape == (2, 3, 4096, 4)
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(
                result[b, c], reference_resample(signals[b, c], 4096), rtol=1e-5, atol=1e-6)
    assert result.dtype == np.float32


def test_long_record_is_cut_to_first_10_s():
    ecg = synthetic_ecg(500, seconds=12.0)
    result = preprocess_ecg(ecg, 500, list(STANDARD_LEADS))
    np.testing.assert_allclose(
        result, reference_resample(ecg[:5000], 4096), rtol=1e-5, atol=1e-6)


def test_slightly_short_record_is_stretched():
    ecg = synthetic_ecg(500, seconds=9.95)
    result = preprocess_ecg(ecg, 500, list(STANDARD_LEADS))
    np.testing.assert_allclose(result, reference_resample(ecg, 4096), rtol=1e-5, atol=1e-6)


def test_linear_ramp_stays_a_ramp():
    ramp = np.linspace(-1.0, 1.0, 5000)
    result = preprocess_ecg(ramp, 500, variant="lead_I")
    np.testing.assert_allclose(result[:, 0], np.linspace(-1.0, 1.0, 4096), atol=1e-6)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_shape_and_dtype_per_variant(name):
    variant = VARIANTS[name]
    result = preprocess_ecg(synthetic_ecg(500), 500, list(STANDARD_LEADS), name)
    assert result.shape == (variant.input_length, variant.num_leads)
    assert result.dtype == np.float32


# Lead names -----------------------------------------------------------------

@pytest.mark.parametrize("spelling, standard", [
    ("AVR", "aVR"), ("avr", "aVR"), ("aVR", "aVR"), ("i", "I"), ("I", "I"),
    ("v1", "V1"), ("V1", "V1"), (" II ", "II"), ("Lead I", "I"),
    ("LEAD_II", "II"), ("lead-aVF", "aVF"), ("leadV6", "V6"),
    ("vx", "vx"), (" Resp ", "Resp"),
])
def test_normalize_lead_name(spelling, standard):
    assert normalize_lead_name(spelling) == standard


def test_scrambled_dict_gives_standard_order():
    n = 5000
    tagged = tagged_leads(n)
    spellings = {"aVR": "AVR", "aVL": "avl", "I": "LEAD_I", "II": "Lead II", "V3": "v3"}
    scrambled = {spellings.get(lead, lead): tagged[lead]
                 for lead in reversed(STANDARD_LEADS)}
    result = preprocess_ecg(scrambled, 500)
    expected = reference_resample(np.stack([tagged[lead] for lead in STANDARD_LEADS], -1), 4096)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_array_with_names_is_reordered():
    tagged = tagged_leads(5000)
    order = list(reversed(STANDARD_LEADS))
    array = np.stack([tagged[lead] for lead in order], axis=-1)
    result = preprocess_ecg(array, 500, [name.upper() for name in order])
    expected = reference_resample(np.stack([tagged[lead] for lead in STANDARD_LEADS], -1), 4096)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant, lead", [("lead_I", "I"), ("lead_II", "II")])
def test_single_lead_variant_picks_its_lead(variant, lead):
    tagged = tagged_leads(5000)
    result = preprocess_ecg(tagged, 500, variant=variant)
    expected = reference_resample(tagged[lead][:, None], VARIANTS[variant].input_length)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def test_frank_leads_of_15_lead_record_are_ignored():
    leads = STANDARD_LEADS + ("vx", "vy", "vz")
    tagged = tagged_leads(1000, leads)
    array = np.stack([tagged[lead] for lead in leads], axis=-1)
    result = preprocess_ecg(array, 100, list(leads))
    np.testing.assert_allclose(result, reference_resample(array[:, :12], 4096),
                               rtol=1e-5, atol=1e-6)


# Errors ---------------------------------------------------------------------

def test_missing_lead_is_named():
    ecg = tagged_leads(5000)
    del ecg["V4"]
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(ecg, 500, source="rec1")
    assert_problem(excinfo, "missing_lead", "rec1", "V4")
    assert excinfo.value.lead == "V4"


def test_duplicate_lead_after_normalizing():
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(np.zeros((5000, 2)), 500, ["I", "i"], "lead_I")
    assert_problem(excinfo, "duplicate_lead", "lead I")


def test_column_count_mismatch():
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(synthetic_ecg(500).T, 500, list(STANDARD_LEADS))
    assert_problem(excinfo, "unknown_lead_count", "12 lead names", "5000 columns")
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(synthetic_ecg(500), 500)
    assert excinfo.value.problem == "unknown_lead_count"


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_names_the_lead(bad_value):
    ecg = synthetic_ecg(500)
    ecg[1234, STANDARD_LEADS.index("V2")] = bad_value
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(ecg, 500, list(STANDARD_LEADS), source="rec2")
    assert_problem(excinfo, "not_finite", "rec2: lead V2", "1 of 5000")
    assert excinfo.value.lead == "V2"


def test_nan_after_10_s_is_ignored():
    ecg = synthetic_ecg(500, seconds=12.0)
    ecg[5500:] = np.nan
    preprocess_ecg(ecg, 500, list(STANDARD_LEADS))


def test_one_or_two_flat_leads_are_kept_by_default_as_on_the_command_line():
    assert TOLERATED_FLAT_LEADS == 2
    ecg = synthetic_ecg(100)
    ecg[:, STANDARD_LEADS.index("V3")] = 0.7
    kept, flat = preprocess_ecg(ecg, 100, list(STANDARD_LEADS), return_flat_leads=True)
    assert flat == ["V3"]
    np.testing.assert_allclose(kept[:, STANDARD_LEADS.index("V3")], 0.7)
    np.testing.assert_array_equal(preprocess_ecg(ecg, 100, list(STANDARD_LEADS)), kept)
    ecg[:, STANDARD_LEADS.index("aVL")] = -0.1
    assert preprocess_ecg(ecg, 100, list(STANDARD_LEADS), return_flat_leads=True)[1] == [
        "aVL", "V3"]


def test_flat_lead_strict():
    ecg = synthetic_ecg(100)
    ecg[:, STANDARD_LEADS.index("V3")] = 0.7
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(ecg, 100, list(STANDARD_LEADS), source="records100/00001_lr",
                       max_flat_leads=0)
    assert_problem(excinfo, "flat_lead", "records100/00001_lr: lead V3 is flat "
                   "(peak-to-peak 0.000 mV over 10 s")


def test_three_flat_leads_are_rejected_by_default():
    ecg = synthetic_ecg(100)
    ecg[:, [6, 7, 8]] = 0.0
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(ecg, 100, list(STANDARD_LEADS), source="r")
    assert_problem(excinfo, "flat_lead", "r: leads V1, V2, V3 are flat",
                   "at most 2 flat lead(s) tolerated")


def test_single_lead_variant_never_tolerates_its_only_lead_flat():
    ecg = synthetic_ecg(500)
    ecg[:, 0] = 0.3
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(ecg, 500, list(STANDARD_LEADS), "lead_I")
    assert_problem(excinfo, "flat_lead", "lead I is flat")


def test_microvolts():
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(synthetic_ecg(500) * 1000, 500, list(STANDARD_LEADS))
    assert_problem(excinfo, "microvolts", "microvolts", "divide", "1000")


def test_brief_large_spike_is_not_microvolts():
    ecg = synthetic_ecg(500)
    ecg[100:103, 0] = 30.0  # a pacing artifact: robust amplitude ignores it
    preprocess_ecg(ecg, 500, list(STANDARD_LEADS))


def test_too_short():
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(synthetic_ecg(500, seconds=5.0), 500, list(STANDARD_LEADS), source="r")
    assert_problem(excinfo, "too_short", "r: ", "5.00 s")


@pytest.mark.parametrize("fs", [0, -500, np.nan, np.inf, "fast"])
def test_bad_sampling_rate(fs):
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(synthetic_ecg(500), fs, list(STANDARD_LEADS))
    assert excinfo.value.problem == "bad_sampling_rate"


@pytest.mark.parametrize("ecg", [np.zeros((2, 5000, 12)), {"I": np.zeros((5000, 1))}])
def test_bad_shape(ecg):
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_ecg(ecg, 500, list(STANDARD_LEADS), "lead_I")
    assert excinfo.value.problem == "bad_shape"


def test_thresholds_are_keywords():
    ecg = synthetic_ecg(500)
    with pytest.raises(ECGValidationError, match="flat"):
        preprocess_ecg(ecg, 500, list(STANDARD_LEADS), flat_threshold_mv=5.0)
    with pytest.raises(ECGValidationError, match="microvolts"):
        preprocess_ecg(ecg, 500, list(STANDARD_LEADS), max_amplitude_mv=0.1)
    preprocess_ecg(ecg[:4000], 500, list(STANDARD_LEADS), min_duration_s=8.0)


def test_error_survives_pickling():
    error = ECGValidationError("flat_lead", "lead V3 is flat", lead="V3", source="r", index=2)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.problem, copy.lead, copy.source, copy.index, str(copy)) == (
        "flat_lead", "V3", "r", 2, str(error))


# Realistic amplitudes -------------------------------------------------------

def test_realistic_ecg_passes_and_small_noise_is_not_flat():
    ecg = synthetic_ecg(500)
    ecg[:, STANDARD_LEADS.index("III")] = RNG.uniform(-0.025, 0.025, 5000)
    assert np.ptp(ecg[:, 2]) < 0.05 + 1e-9
    preprocess_ecg(ecg, 500, list(STANDARD_LEADS))


# Batches --------------------------------------------------------------------

def test_batch_equals_stacked_single_ecgs():
    ecgs = np.stack([synthetic_ecg(250, seed=seed) for seed in range(3)])
    for variant in VARIANTS:
        batch = preprocess_batch(ecgs, 250, list(STANDARD_LEADS), variant)
        singles = np.stack([preprocess_ecg(ecg, 250, list(STANDARD_LEADS), variant)
                            for ecg in ecgs])
        assert batch.dtype == np.float32
        np.testing.assert_array_equal(batch, singles)


def test_batch_error_names_the_bad_ecg():
    ecgs = np.stack([synthetic_ecg(250, seed=seed) for seed in range(4)])
    ecgs[2, :, STANDARD_LEADS.index("V2")] = 0.0
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_batch(ecgs, 250, list(STANDARD_LEADS), sources=["a", "b", "c", "d"],
                         max_flat_leads=0)
    assert_problem(excinfo, "flat_lead", "c (batch index 2): lead V2")
    assert excinfo.value.index == 2
    preprocess_batch(np.delete(ecgs, 2, axis=0), 250, list(STANDARD_LEADS), max_flat_leads=0)
    batch, flat = preprocess_batch(ecgs, 250, list(STANDARD_LEADS), return_flat_leads=True)
    assert flat == [[], [], ["V2"], []]  # the default keeps and flags it
    np.testing.assert_array_equal(batch, preprocess_batch(ecgs, 250, list(STANDARD_LEADS)))

    ecgs[1, 10, 0] = np.nan
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_batch(ecgs, 250, list(STANDARD_LEADS))
    assert_problem(excinfo, "not_finite", "batch index 1: lead I")


def test_batch_must_be_3d():
    with pytest.raises(ECGValidationError) as excinfo:
        preprocess_batch(synthetic_ecg(500), 500, list(STANDARD_LEADS))
    assert excinfo.value.problem == "bad_shape"

def test_lead_i_present_is_the_12_lead_input_with_the_other_leads_zero():
    ecg = RNG.normal(size=(5000, 12)).astype(np.float32)
    full = preprocess_ecg(ecg, 500, list(STANDARD_LEADS))
    reduced = preprocess_ecg(ecg, 500, list(STANDARD_LEADS), leads_present="I")
    np.testing.assert_array_equal(reduced[:, 0], full[:, 0])
    assert reduced.shape == full.shape == (4096, 12) and not reduced[:, 1:].any()


@pytest.mark.parametrize("spec", ["limb", "I,II", "avl, V5", ("V2",), "precordial"])
def test_lead_sets_keep_their_leads_and_zero_the_others(spec):
    ecg = RNG.normal(size=(2500, 12)).astype(np.float32)
    full = preprocess_ecg(ecg, 250, list(STANDARD_LEADS))
    reduced = preprocess_ecg(ecg, 250, list(STANDARD_LEADS), leads_present=spec)
    kept = [STANDARD_LEADS.index(lead) for lead in parse_lead_set(spec)]
    zero = [i for i in range(12) if i not in kept]
    np.testing.assert_array_equal(reduced[:, kept], full[:, kept])
    assert not reduced[:, zero].any()


def test_a_lead_i_recording_needs_only_lead_i():
    lead_i = RNG.normal(size=5000).astype(np.float32)
    expected = preprocess_ecg(np.tile(lead_i[:, None], (1, 12)), 500, list(STANDARD_LEADS),
                              leads_present="I")
    for ecg, names in [(lead_i, None), (lead_i[:, None], ["lead I"]), ({"I": lead_i}, None)]:
        np.testing.assert_array_equal(
            preprocess_ecg(ecg, 500, names, leads_present="I"), expected)
    with pytest.raises(ECGValidationError) as caught:  # strict without leads_present
        preprocess_ecg(lead_i[:, None], 500, ["I"], source="watch/1.hea")
    assert caught.value.problem == "missing_lead" and caught.value.lead == "II"


def test_a_requested_lead_the_ecg_lacks_names_the_file_and_the_lead():
    ecg = RNG.normal(size=(5000, 2)).astype(np.float32)
    with pytest.raises(ECGValidationError) as caught:
        preprocess_ecg(ecg, 500, ["I", "III"], leads_present="I,II", source="holter/7.hea")
    assert caught.value.problem == "missing_lead" and caught.value.lead == "II"
    assert str(caught.value).startswith("holter/7.hea: lead II is missing")


def test_checks_apply_to_the_leads_present_alone():
    ecg = RNG.normal(size=(5000, 12)).astype(np.float32)
    ecg[:, 1:] = 0.0  # all but lead I disconnected: fine for lead-I input
    ecg[:100, 5] = np.nan
    out, flat = preprocess_ecg(ecg, 500, list(STANDARD_LEADS), leads_present="I",
                               max_flat_leads=0, return_flat_leads=True)
    assert flat == [] and not out[:, 1:].any()
    with pytest.raises(ECGValidationError, match="lead I is flat"):
        preprocess_ecg(np.zeros((5000, 12)), 500, list(STANDARD_LEADS), leads_present="I")
    with pytest.raises(ECGValidationError) as caught:
        preprocess_ecg(ecg * 1000, 500, list(STANDARD_LEADS), leads_present="I")
    assert caught.value.problem == "microvolts" and caught.value.lead == "I"


def test_batch_takes_leads_present_as_single_ecgs_do():
    ecgs = RNG.normal(size=(3, 2500, 12)).astype(np.float32)
    batch = preprocess_batch(ecgs, 250, list(STANDARD_LEADS), leads_present="limb")
    singles = np.stack([preprocess_ecg(ecg, 250, list(STANDARD_LEADS), leads_present="limb")
                        for ecg in ecgs])
    np.testing.assert_array_equal(batch, singles)
    assert not batch[..., 6:].any()


def test_leads_the_variant_does_not_read_are_refused():
    with pytest.raises(ValueError, match="none of the leads present"):
        preprocess_ecg(RNG.normal(size=(5000, 1)), 500, ["V2"], variant="lead_I",
                       leads_present="V2")
    with pytest.raises(ValueError, match="Unknown lead"):
        preprocess_ecg(RNG.normal(size=(5000, 1)), 500, ["I"], leads_present="I,X9")
