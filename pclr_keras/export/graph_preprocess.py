"""`preprocess_ecg` as TensorFlow ops, for the raw-signal serving signature.

A SavedModel's `embed_raw` signature runs this inside the graph, so a client
in any language sends the recorded signal in mV and its sampling rate, and
gets the representation `preprocess_ecg` + the encoder would give: the same
checks, the same first 10 s window, the same sample positions
(`np.linspace`, in float64) and the same float32 interpolation. A rejected
ECG fails the request with `InvalidArgument` whose message starts with the
`ECGValidationError` problem code (`too_short`, `not_finite`, ...) and
names the batch row, so TF Serving answers with the reason, not garbage.

One deliberate difference: any flat lead is rejected here, as
`preprocess_ecg(..., max_flat_leads=0)` does, while `preprocess_ecg`,
`pclr tensorize` and `pclr embed` keep ECGs with up to
`TOLERATED_FLAT_LEADS` flat leads and flag them. A served answer is an
embedding alone, with no room for the flag, so the server refuses instead.

With `leads_present` (a watch's lead I, the limb leads, ...), the signature
takes only those leads, in the variant's order, checks and resamples them,
and gives the encoder zeros for the others, as `preprocess_ecg(...,
leads_present=...)` does.
"""

import numpy as np
import tensorflow as tf

from pclr_keras.preprocess import (FLAT_THRESHOLD_MV, MAX_AMPLITUDE_MV, MIN_DURATION_S,
                                   present_leads)
from pclr_keras.variants import ECG_DURATION_S, get_variant


def preprocess_raw(ecg, fs, variant="pclr", *, min_duration_s=MIN_DURATION_S,
                   flat_threshold_mv=FLAT_THRESHOLD_MV, max_amplitude_mv=MAX_AMPLITUDE_MV,
                   leads_present=None):
    """Validates, cuts and resamples raw ECGs in the graph.

    Args:
        ecg: float32 tensor (batch, samples, leads) in mV, the variant's
            leads (or those of `leads_present`) in its order; all rows share
            `samples`.
        fs: float32 tensor (batch,). Sampling rate of each row in Hz.
        variant: str or `EncoderVariant`.
        min_duration_s, flat_threshold_mv, max_amplitude_mv: as in
            `preprocess_ecg`; no flat lead is tolerated (see above).
        leads_present: None (all the variant's leads), or the leads `ecg`
            holds (a set name or comma list); the others are zero-filled
            after preprocessing.

    Returns:
        float32 tensor (batch, input_length, leads) of the variant; the
        checks run first and raise `InvalidArgumentError` on the first
        problem, in `preprocess_ecg`'s order.
    """
    variant = get_variant(variant)
    names = present_leads(variant, leads_present)
    ecg = tf.convert_to_tensor(ecg, tf.float32)
    fs = tf.convert_to_tensor(fs, tf.float32)
    leads = tf.constant(names)
    shape = tf.shape(ecg)
    # Each step runs after the previous check passed, so no op ever sees
    # input an earlier check rejected and the first problem is the one named.
    check = _check_lead_count(shape, variant, names)
    with tf.control_dependencies([check]):
        check = _check_rate_count(shape, fs)
    with tf.control_dependencies([check]):
        rate = tf.cast(fs, tf.float64)
        check = _check_rates(fs, rate)
    with tf.control_dependencies([check]):
        check = _check_duration(shape, fs, rate, min_duration_s)
    with tf.control_dependencies([check]):
        window, check = _first_window(shape, fs, rate)
    with tf.control_dependencies([check]):
        inside = tf.sequence_mask(window, shape[1])[:, :, tf.newaxis]  # (batch, samples, 1)
        seconds = _shortest(tf.cast(window, tf.float64) / rate)
        check = _check_finite(ecg, leads, window, inside, seconds)
    with tf.control_dependencies([check]):
        peak_to_peak, check = _check_not_flat(ecg, leads, inside, seconds, flat_threshold_mv)
    with tf.control_dependencies([check]):
        check = _check_millivolts(ecg, leads, window, peak_to_peak, max_amplitude_mv)
    with tf.control_dependencies([check]):
        return _zero_fill(resample_rows(ecg, window, variant.input_length), variant, names)


def _zero_fill(x, variant, names):
    """(batch, length, len(names)) -> (batch, length, variant leads), absent leads zero."""
    if tuple(names) == tuple(variant.leads):
        return x
    with_zeros = tf.concat([x, tf.zeros_like(x[:, :, :1])], axis=2)
    columns = [names.index(lead) if lead in names else len(names) for lead in variant.leads]
    return tf.gather(with_zeros, columns, axis=2)


def _check_lead_count(shape, variant, names):
    """The last axis holds the leads `names` (the variant's, or those present)."""
    reads = (f"the {variant.name} encoder reads" if tuple(names) == tuple(variant.leads)
             else f"this signature of the {variant.name} encoder takes")
    return _check(tf.equal(shape[2], len(names)), _message(
        f"unknown_lead_count: {reads} {len(names)} lead(s) {', '.join(names)} in this order "
        "as the last axis of ecg [batch, samples, leads]; got ", shape[2], " columns"))


def _check_rate_count(shape, fs):
    """One sampling rate per row, and at least one row."""
    batch = shape[0]
    return _check(tf.equal(tf.size(fs), batch) & (batch > 0), _message(
        "bad_shape: fs must hold one sampling rate per row of ecg, and there must be "
        "a row; got ", tf.size(fs), " rates for ", batch, " rows"))


def _check_rates(fs, rate):
    """Every sampling rate is a positive finite number."""
    bad_rate = ~(tf.math.is_finite(rate) & (rate > 0))
    row = _first(bad_rate)
    return _check(~tf.reduce_any(bad_rate), _message(
        "bad_sampling_rate: batch index ", row, ": sampling rate ", _shortest(fs[row]),
        " Hz is not a positive finite number"))


def _check_duration(shape, fs, rate, min_duration_s):
    """Every record lasts at least `min_duration_s`."""
    samples = shape[1]
    duration = tf.cast(samples, tf.float64) / rate
    short = duration < min_duration_s
    row = _first(short)
    return _check(~tf.reduce_any(short), _message(
        "too_short: batch index ", row, ": record is ",
        tf.strings.as_string(duration[row], precision=2), " s long (", samples,
        " samples at ", _shortest(fs[row]), f" Hz); at least {min_duration_s:g} s needed"))


def _first_window(shape, fs, rate):
    """(samples in each row's first 10 s, the check that each has 2 to resample).

    The window `preprocess_ecg` takes: signals[:round(10 s * rate)].
    """
    window = tf.minimum(tf.cast(tf.round(ECG_DURATION_S * rate), tf.int32), shape[1])
    row = _first(window < 2)
    return window, _check(tf.reduce_all(window >= 2), _message(
        "too_short: batch index ", row, ": the first 10 s hold ", window[row],
        " sample(s) at ", _shortest(fs[row]), " Hz; at least 2 are needed to resample"))


def _check_finite(ecg, leads, window, inside, seconds):
    """No NaN or inf inside any row's window."""
    not_finite = ~tf.math.is_finite(ecg) & inside
    per_lead = tf.reduce_sum(tf.cast(not_finite, tf.int32), axis=1)  # (batch, leads)
    row, lead = _first_lead(per_lead > 0)
    return _check(~tf.reduce_any(not_finite), _message(
        "not_finite: batch index ", row, ": lead ", leads[lead], " contains NaN or inf (",
        per_lead[row, lead], " of ", window[row], " samples in the first ", seconds[row],
        " s)"))


def _check_not_flat(ecg, leads, inside, seconds, flat_threshold_mv):
    """(peak-to-peak per row and lead over the window, the check that no lead is flat)."""
    peak_to_peak = (tf.reduce_max(tf.where(inside, ecg, -float("inf")), axis=1)
                    - tf.reduce_min(tf.where(inside, ecg, float("inf")), axis=1))
    flat = peak_to_peak < flat_threshold_mv
    row, lead = _first_lead(flat)
    return peak_to_peak, _check(~tf.reduce_any(flat), _message(
        "flat_lead: batch index ", row, ": lead ", leads[lead], " is flat (peak-to-peak ",
        tf.strings.as_string(peak_to_peak[row, lead], precision=3), " mV over ",
        seconds[row], f" s; at least {flat_threshold_mv:g} mV expected)"))


def _check_millivolts(ecg, leads, window, peak_to_peak, max_amplitude_mv):
    """No lead looks like microvolts (a robust amplitude above `max_amplitude_mv`)."""
    # |x - median| <= peak-to-peak: only leads this large can look like microvolts.
    amplitude = tf.cond(
        tf.reduce_any(peak_to_peak > max_amplitude_mv),
        lambda: _robust_amplitude(ecg, window),
        lambda: tf.zeros_like(peak_to_peak))
    microvolts = amplitude > max_amplitude_mv
    row, lead = _first_lead(microvolts)
    return _check(~tf.reduce_any(microvolts), _message(
        "microvolts: batch index ", row, ": lead ", leads[lead], " looks like microvolts, "
        "not millivolts (99th-percentile amplitude ",
        tf.strings.as_string(amplitude[row, lead], precision=1),
        f" mV, above {max_amplitude_mv:g} mV); divide the signal by 1000"))


def resample_rows(signals, lengths, length):
    """`resample_linear` of each row's first `lengths[b]` samples, in the graph.

    The sample positions are `np.linspace(0, 1, n)` computed as numpy does
    (`i * (1 / (n - 1))` in float64, the last one exactly 1), the interval
    is the one `np.interp` picks (`searchsorted(..., side="right") - 1`),
    the weights are float64 cast to float32 and the interpolation is
    float32: bit for bit what `resample_linear` computes.

    Args:
        signals: float32 (batch, samples, leads).
        lengths: int32 (batch,), 2 <= lengths[b] <= samples.
        length: int. Samples per lead wanted.

    Returns:
        float32 (batch, length, leads).
    """
    samples = tf.shape(signals)[1]
    count = tf.cast(lengths, tf.float64)[:, tf.newaxis]  # (batch, 1)
    index = tf.range(samples)[tf.newaxis, :]  # (1, samples)
    source = tf.cast(index, tf.float64) * (1.0 / (count - 1.0))
    source = tf.where(index == lengths[:, tf.newaxis] - 1, tf.constant(1.0, tf.float64), source)
    # Past a row's window: beyond every target time, so searchsorted ignores it.
    source = tf.where(index < lengths[:, tf.newaxis], source, tf.constant(2.0, tf.float64))
    target = tf.broadcast_to(tf.constant(np.linspace(0.0, 1.0, length)),
                             [tf.shape(signals)[0], length])
    left = tf.searchsorted(source, target, side="right") - 1
    left = tf.clip_by_value(left, 0, lengths[:, tf.newaxis] - 2)
    start = tf.gather(source, left, batch_dims=1)
    weight = (target - start) / (tf.gather(source, left + 1, batch_dims=1) - start)
    before = tf.gather(signals, left, axis=1, batch_dims=1)
    after = tf.gather(signals, left + 1, axis=1, batch_dims=1)
    return (after - before) * tf.cast(weight, tf.float32)[:, :, tf.newaxis] + before


def _robust_amplitude(ecg, window):
    """99th percentile of |x - median| per row and lead, over each row's window
    (`np.percentile`'s linear interpolation)."""
    inside = tf.sequence_mask(window, tf.shape(ecg)[1])[:, tf.newaxis, :]
    leads_last = tf.transpose(ecg, [0, 2, 1])  # (batch, leads, samples)
    median = _percentile(leads_last, inside, window, 50.0)
    deviation = tf.abs(leads_last - median[:, :, tf.newaxis])
    return _percentile(deviation, inside, window, 99.0)


def _percentile(values, inside, window, q):
    ordered = tf.sort(tf.where(inside, values, float("inf")), axis=-1)
    position = q / 100.0 * tf.cast(window - 1, tf.float64)[:, tf.newaxis]  # (batch, 1)
    below = tf.cast(tf.floor(position), tf.int32)
    above = tf.minimum(below + 1, window[:, tf.newaxis] - 1)
    low = tf.gather(ordered, tf.broadcast_to(below, tf.shape(ordered)[:2])[..., tf.newaxis],
                    batch_dims=2)[..., 0]
    high = tf.gather(ordered, tf.broadcast_to(above, tf.shape(ordered)[:2])[..., tf.newaxis],
                     batch_dims=2)[..., 0]
    fraction = tf.cast(position - tf.floor(position), tf.float32)
    return low + (high - low) * fraction


def _check(condition, message):
    """Fails the call with `InvalidArgument: message` unless `condition`."""
    return tf.debugging.Assert(condition, [message], summarize=1)


def _message(*parts):
    """One string tensor from text and scalar tensors (numbers written plainly)."""
    return tf.strings.join([
        part if isinstance(part, str) or part.dtype == tf.string else tf.strings.as_string(part)
        for part in parts])


def _first(flags):
    """Index of the first True of a 1-D bool tensor (0 if none)."""
    return tf.argmax(tf.cast(flags, tf.int32), output_type=tf.int32)


def _first_lead(flags):
    """(row, lead) of the first True of a (batch, leads) bool tensor, rows first."""
    row = _first(tf.reduce_any(flags, axis=1))
    return row, _first(tf.gather(flags, row))


def _shortest(values):
    """Numbers as `%g` writes them (e.g. 500, 409.6)."""
    return tf.strings.as_string(values, shortest=True)
