"""`preprocess_raw`: `preprocess_ecg` as graph ops, the same numbers and the same refusals.

Run traced (as the `embed_raw` signature runs it), so every check waits for
the one before it; the SavedModel round trip itself is tests/export/test_serving.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from pclr_keras.export.graph_preprocess import preprocess_raw
from pclr_keras.preprocess import ECGValidationError, preprocess_ecg, present_leads
from pclr_keras.synthetic import example_ecg
from pclr_keras.variants import STANDARD_LEADS, get_variant

VARIANT = get_variant("pclr")
COLUMNS = [STANDARD_LEADS.index(lead) for lead in VARIANT.leads]


@pytest.fixture(scope="module")
def traced():
    """preprocess_raw as a tf.function over any batch, length and lead count."""
    function = tf.function(
        lambda ecg, fs: preprocess_raw(ecg, fs, VARIANT),
        input_signature=[tf.TensorSpec([None, None, None], tf.float32),
                         tf.TensorSpec([None], tf.float32)])

    def run(ecg, fs):
        return function(np.asarray(ecg, np.float32), np.asarray(fs, np.float32)).numpy()

    return run


def raw(fs, seconds=10.0, seed=0):
    return example_ecg(fs=fs, seconds=seconds, seed=seed)[:, COLUMNS].astype(np.float32)


@pytest.mark.parametrize("fs", [100.0, 250.0, 409.6, 500.0])
def test_equals_preprocess_ecg_bit_for_bit(traced, fs):
    ecg = raw(fs)
    expected = preprocess_ecg(ecg, fs, VARIANT.leads, VARIANT, max_flat_leads=0)
    np.testing.assert_array_equal(traced(ecg[np.newaxis], [fs])[0], expected)


def test_rows_of_one_length_at_different_rates_each_take_their_first_10_s(traced):
    fast, slow = raw(500.0, seconds=10.0, seed=1), raw(250.0, seconds=20.0, seed=2)
    assert fast.shape == slow.shape
    got = traced(np.stack([fast, slow]), [500.0, 250.0])
    for row, (ecg, fs) in enumerate([(fast, 500.0), (slow, 250.0)]):
        np.testing.assert_array_equal(
            got[row], preprocess_ecg(ecg, fs, VARIANT.leads, VARIANT, max_flat_leads=0))


def spoil(problem, ecg):
    """A copy of `ecg` (samples, leads) at 500 Hz with one problem in lead V1 (column 6)."""
    ecg = ecg.copy()
    if problem == "not_finite":
        ecg[100, 6] = np.nan
    elif problem == "flat_lead":
        ecg[:, 6] = 0.001
    elif problem == "microvolts":
        ecg *= 1000.0
    return ecg


@pytest.mark.parametrize("problem", ["not_finite", "flat_lead", "microvolts"])
def test_a_bad_row_is_refused_with_the_code_row_and_lead_preprocess_ecg_names(traced, problem):
    good = raw(500.0)
    bad = spoil(problem, good)
    with pytest.raises(ECGValidationError) as caught:
        preprocess_ecg(bad, 500.0, VARIANT.leads, VARIANT, max_flat_leads=0)
    assert caught.value.problem == problem
    lead = "" if problem == "microvolts" else f": lead {VARIANT.leads[6]} "
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"{problem}: batch index 1{lead}"):
        traced(np.stack([good, bad]), [500.0, 500.0])


def test_the_first_problem_in_preprocess_ecg_order_is_the_one_named(traced):
    good = raw(500.0)
    nan_and_flat = spoil("not_finite", spoil("flat_lead", good))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not_finite: batch index 0"):
        traced(nan_and_flat[np.newaxis], [500.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad_sampling_rate: batch index 1"):
        traced(np.stack([good, nan_and_flat]), [500.0, 0.0])


@pytest.mark.parametrize("ecg, fs, message", [
    (np.zeros((1, 5000, 11)), [500.0], "unknown_lead_count: the pclr encoder reads 12 lead"),
    (np.zeros((2, 5000, 12)), [500.0], "bad_shape: fs must hold one sampling rate per row"),
    (np.zeros((0, 5000, 12)), [], "bad_shape: .* got 0 rates for 0 rows"),
    (np.zeros((1, 5000, 12)), [np.inf], "bad_sampling_rate: batch index 0: sampling rate inf"),
    (np.zeros((1, 2500, 12)), [500.0], r"too_short: batch index 0: record is 5.00 s long"),
    (np.zeros((1, 1, 12)), [0.1], r"too_short: batch index 0: the first 10 s hold 1 sample"),
])
def test_shapes_rates_and_lengths_are_checked_before_the_signal(traced, ecg, fs, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        traced(ecg, fs)


@pytest.mark.parametrize("leads", ["I", "limb", "I,II", "V2"])
def test_with_leads_present_only_those_are_taken_and_the_others_zero_as_preprocess_ecg(leads):
    present = present_leads(VARIANT, leads)
    function = tf.function(
        lambda ecg, fs: preprocess_raw(ecg, fs, VARIANT, leads_present=leads),
        input_signature=[tf.TensorSpec([None, None, None], tf.float32),
                         tf.TensorSpec([None], tf.float32)])
    full = raw(500.0)
    ecg = full[:, [VARIANT.leads.index(lead) for lead in present]]
    got = function(ecg[np.newaxis], np.float32([500.0])).numpy()[0]
    np.testing.assert_array_equal(got, preprocess_ecg(ecg, 500.0, present, VARIANT,
                                                      max_flat_leads=0, leads_present=leads))
    absent = [i for i, lead in enumerate(VARIANT.leads) if lead not in present]
    assert got.shape == (VARIANT.input_length, 12) and not got[:, absent].any()
    assert got[:, [VARIANT.leads.index(lead) for lead in present]].any(axis=0).all()
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"takes {len(present)} lead\\(s\\) {', '.join(present)} in this "
                             "order .* got 12 columns"):
        function(full[np.newaxis], np.float32([500.0]))
