"""Raw ECG -> encoder input: the variant's leads, 10 s, resampled, in mV.

The released encoders read the first 10 s of each lead stretched to their
input length by linear interpolation, exactly as ml4h did with
`np.interp(np.linspace(0, 1, L), np.linspace(0, 1, n), lead)`. Here the same
interpolation is done for all leads and ECGs at once. Before resampling, the
window is checked for what silently ruins embeddings: missing or ambiguous
leads, NaN, flat (disconnected) leads and signals stored in microvolts.

Reduced-lead input (a watch's lead I, a pocket device's limb leads) is
read as `leads_present` says: only those leads are required and checked,
and the encoder's other leads are zeros, exactly as lead-masked
pre-training shows a view that lacks them.
"""

from collections.abc import Mapping

import numpy as np

from pclr_keras.variants import (
    ECG_DURATION_S, STANDARD_LEADS, get_variant, normalize_lead_name, parse_lead_set)

# A record may be a few samples short of 10 s (rounding in exporters); what
# there is gets stretched to the input length.
MIN_DURATION_S = 9.9
# Disconnected electrodes give peak-to-peak values of a few microvolts; the
# smallest lead of all 5,077 PTB-XL and LUDB records here swings 0.165 mV.
FLAT_THRESHOLD_MV = 0.02
# The largest robust amplitude in those records is 15.8 mV (median 1.6 mV);
# the same ECGs in microvolts start at about 150.
MAX_AMPLITUDE_MV = 50.0
# The quality policy, the same in Python and on the command line: an ECG with
# up to this many flat leads is kept (bulk jobs list them in a `quality`
# column): one disconnected electrode is common in multi-site archives, and
# dropping those ECGs biases a cohort by device. Serving is stricter (see
# graph_preprocess): a served answer has no room for the flag.
TOLERATED_FLAT_LEADS = 2



class ECGValidationError(ValueError):
    """An ECG the encoder should not see, and why.

    Args:
        problem: str. Machine-readable code: "missing_lead", "duplicate_lead",
            "unknown_lead_count", "not_finite", "flat_lead", "too_short",
            "microvolts", "bad_shape" or "bad_sampling_rate".
        detail: str. What is wrong, with the measured value.
        lead: str or None. The lead at fault, if one is.
        source: str or None. The file or id of the ECG, for the message.
        index: int or None. The ECG's position in a batch, for the message.
    """

    def __init__(self, problem, detail, lead=None, source=None, index=None):
        super().__init__(problem, detail)  # keeps the error picklable
        self.problem = problem
        self.detail = detail
        self.lead = lead
        self.source = source
        self.index = index

    def __str__(self):
        if self.source is not None and self.index is not None:
            return f"{self.source} (batch index {self.index}): {self.detail}"
        if self.index is not None:
            return f"batch index {self.index}: {self.detail}"
        if self.source is not None:
            return f"{self.source}: {self.detail}"
        return self.detail


def quality_flags(flat_leads):
    """The `quality` column of an ECG: "" when clean, else e.g. "flat:V1,V2"."""
    rank = {lead: i for i, lead in enumerate(STANDARD_LEADS)}
    leads = sorted(set(flat_leads), key=lambda lead: (rank.get(lead, len(rank)), lead))
    return f"flat:{','.join(leads)}" if leads else ""


def flat_leads_of(quality):
    """The flat leads a `quality` value lists: `quality_flags` read back."""
    return quality.removeprefix("flat:").split(",") if quality else []


def resample_linear(signals, length):
    """Stretches signals to `length` samples by linear interpolation.

    Equals `np.interp(np.linspace(0, 1, length), np.linspace(0, 1, n), x)`
    for every lead x (to float32 precision), but interpolates all leads and
    ECGs with two contiguous gathers instead of one call per lead.

    Args:
        signals: array (..., n, leads), n >= 2.
        length: int. Samples per lead wanted.

    Returns:
        float32 array (..., length, leads).
    """
    signals = np.asarray(signals, dtype=np.float32)
    num_samples = signals.shape[-2]
    if num_samples < 2:
        raise ValueError(f"Need at least 2 samples to interpolate, got {num_samples}.")
    source_times = np.linspace(0.0, 1.0, num_samples)
    target_times = np.linspace(0.0, 1.0, length)
    # The interval np.interp picks for each target time.
    left = np.searchsorted(source_times, target_times, side="right") - 1
    left = np.clip(left, 0, num_samples - 2)
    weight = (target_times - source_times[left]) / (
        source_times[left + 1] - source_times[left])
    before = np.take(signals, left, axis=-2)
    result = np.take(signals, left + 1, axis=-2)
    result -= before
    result *= weight.astype(np.float32)[:, np.newaxis]
    result += before
    return result


def preprocess_ecg(ecg, fs, lead_names=None, variant="pclr", source=None, *,
                   min_duration_s=MIN_DURATION_S,
                   flat_threshold_mv=FLAT_THRESHOLD_MV,
                   max_amplitude_mv=MAX_AMPLITUDE_MV,
                   max_flat_leads=TOLERATED_FLAT_LEADS, return_flat_leads=False,
                   leads_present=None):
    """Turns one raw ECG into the input of a PCLR encoder.

    Args:
        ecg: dict lead name -> 1-D samples; or array (samples, leads) with
            `lead_names`; or 1-D samples of a single-lead variant's lead.
            In millivolts. Leads the variant does not read are ignored.
        fs: float. Sampling rate in Hz.
        lead_names: list of str, one per column of an array `ecg`; any
            spelling `normalize_lead_name` knows.
        variant: str or `EncoderVariant`. The encoder the input is for.
        source: str or None. File or id of the ECG, named in errors.
        min_duration_s: float. Shortest record accepted, in s.
        flat_threshold_mv: float. A lead with a smaller peak-to-peak value
            over the 10 s is rejected as flat.
        max_amplitude_mv: float. A larger robust amplitude (99th percentile
            of |x - median| of a lead) is rejected as microvolts.
        max_flat_leads: int. Flat leads tolerated (kept as they are) when
            fewer than all the variant's leads; more raise `flat_lead`.
            Defaults to `TOLERATED_FLAT_LEADS` (2), as `pclr tensorize` and
            `pclr embed`; 0 rejects any flat lead (their `--strict`).
        return_flat_leads: bool. Also return the tolerated flat leads, to
            flag the ECG.
        leads_present: None (every lead the variant reads is required), or
            the leads the ECG holds, a set name or a comma list
            (`parse_lead_set`): only those are read and checked, the
            variant's other leads are zero (reduced-lead input).

    Returns:
        float32 array (input_length, num_leads) of the variant; with
        `return_flat_leads`, `(array, list of flat lead names)`.

    Raises:
        ECGValidationError: the ECG cannot be used; see its `problem`.
    """
    variant = get_variant(variant)
    leads = present_leads(variant, leads_present)
    try:
        signals, columns = _as_signals_and_columns(ecg, lead_names, variant, leads)
        tensors, flat = _preprocess(
            signals[np.newaxis], fs, columns, variant, leads, min_duration_s,
            flat_threshold_mv, max_amplitude_mv, max_flat_leads)
        return (tensors[0], flat[0]) if return_flat_leads else tensors[0]
    except ECGValidationError as error:
        error.source, error.index = source, None
        raise


def preprocess_batch(ecgs, fs, lead_names, variant="pclr", sources=None, *,
                     min_duration_s=MIN_DURATION_S,
                     flat_threshold_mv=FLAT_THRESHOLD_MV,
                     max_amplitude_mv=MAX_AMPLITUDE_MV,
                     max_flat_leads=TOLERATED_FLAT_LEADS, return_flat_leads=False,
                     leads_present=None):
    """Turns a batch of raw ECGs sharing rate and lead order into encoder input.

    Args:
        ecgs: array (batch, samples, leads) in millivolts.
        fs: float. Sampling rate in Hz, shared by all ECGs.
        lead_names: list of str, one per lead column.
        variant: str or `EncoderVariant`. The encoder the input is for.
        sources: list of str or None. File or id of each ECG, named in errors.
        min_duration_s, flat_threshold_mv, max_amplitude_mv, max_flat_leads,
        return_flat_leads, leads_present: as in `preprocess_ecg`.

    Returns:
        float32 array (batch, input_length, num_leads) of the variant; with
        `return_flat_leads`, `(array, list of the flat lead names of each ECG)`.

    Raises:
        ECGValidationError: an ECG cannot be used; `index` says which one
            (None when the problem is shared: lead names, rate, length).
    """
    variant = get_variant(variant)
    signals = np.asarray(ecgs)
    if signals.ndim != 3:
        raise ECGValidationError(
            "bad_shape", f"a batch must be 3-D (batch, samples, leads), "
            f"got shape {signals.shape}")
    leads = present_leads(variant, leads_present)
    columns = _column_indices(lead_names, signals.shape[-1], variant, leads)
    try:
        tensors, flat = _preprocess(signals, fs, columns, variant, leads, min_duration_s,
                                    flat_threshold_mv, max_amplitude_mv, max_flat_leads)
        return (tensors, flat) if return_flat_leads else tensors
    except ECGValidationError as error:
        if sources is not None and error.index is not None:
            error.source = sources[error.index]
        raise


def leads_in_variant_order(signal, lead_names, variant="pclr", leads_present=None):
    """The variant's leads of `signal` (samples, columns), in its order, float32: all of
    them, or only those of `leads_present` (`present_leads`).

    Raises:
        ECGValidationError: a lead is missing or appears twice.
    """
    variant = get_variant(variant)
    leads = present_leads(variant, leads_present)
    signals, columns = _as_signals_and_columns(signal, lead_names, variant, leads)
    return np.asarray(signals[:, columns], dtype=np.float32)


def present_leads(variant, leads_present=None):
    """The leads of `variant` an ECG holds, in the variant's order: all of them
    for None, else those `leads_present` (a set name or comma list) names.

    Raises:
        ValueError: an unknown lead or set, or none the variant reads.
    """
    variant = get_variant(variant)
    if leads_present is None:
        return tuple(variant.leads)
    named = parse_lead_set(leads_present)
    leads = tuple(lead for lead in variant.leads if lead in named)
    if not leads:
        raise ValueError(f"The {variant.name} encoder reads {list(variant.leads)}, none of "
                         f"the leads present {list(named)}.")
    return leads


def zero_absent_leads(tensors, variant, leads):
    """Encoder inputs (..., length, variant leads) with every lead not in `leads`
    zeroed, in place: a stored 12-lead input seen as reduced-lead input."""
    variant = get_variant(variant)
    absent = [i for i, lead in enumerate(variant.leads) if lead not in leads]
    if absent:
        tensors[..., absent] = 0.0
    return tensors


def _as_signals_and_columns(ecg, lead_names, variant, leads):
    """One ECG as an array (samples, columns) and the columns of `leads` in it."""
    if isinstance(ecg, Mapping):
        names = list(ecg)
        chosen = [np.asarray(ecg[names[i]])
                  for i in _column_indices(names, len(names), variant, leads)]
        shapes = {lead.shape for lead in chosen}
        if len(shapes) != 1 or chosen[0].ndim != 1:
            listed = ", ".join(f"{name} {lead.shape}" for name, lead in zip(leads, chosen))
            raise ECGValidationError(
                "bad_shape", f"leads must be 1-D and equally long, got {listed}")
        return np.stack(chosen, axis=-1), list(range(len(leads)))
    signals = np.asarray(ecg)
    if signals.ndim == 1:
        if lead_names is None and len(leads) == 1:
            lead_names = leads
        signals = signals[:, np.newaxis]
    if signals.ndim != 2:
        raise ECGValidationError(
            "bad_shape", f"an ECG array must be (samples, leads), got shape "
            f"{signals.shape}")
    return signals, _column_indices(lead_names, signals.shape[1], variant, leads)


def _column_indices(lead_names, num_columns, variant, leads):
    """Positions of `leads` (the variant's leads the ECG holds) among `lead_names`."""
    if lead_names is None:
        raise ECGValidationError(
            "unknown_lead_count", f"lead_names are needed to tell which lead "
            f"each of the {num_columns} columns is")
    if len(lead_names) != num_columns:
        raise ECGValidationError(
            "unknown_lead_count", f"{len(lead_names)} lead names for "
            f"{num_columns} columns; the array must be (samples, leads)")
    names = [normalize_lead_name(name) for name in lead_names]
    for lead in leads:
        if names.count(lead) > 1:
            spellings = [str(lead_names[i]) for i, name in enumerate(names) if name == lead]
            raise ECGValidationError(
                "duplicate_lead",
                f"lead {lead} appears {len(spellings)} times (as {spellings})",
                lead=lead)
        if lead not in names:
            reads = (f"the {variant.name} encoder reads {list(variant.leads)}"
                     if len(leads) == variant.num_leads else
                     f"the leads present are {list(leads)}")
            raise ECGValidationError(
                "missing_lead", f"lead {lead} is missing; {reads}, found {names}", lead=lead)
    return [names.index(lead) for lead in leads]


def _preprocess(signals, fs, columns, variant, leads, min_duration_s,
                flat_threshold_mv, max_amplitude_mv, max_flat_leads):
    """Cuts, checks and resamples a batch of `leads`: (tensors, flat leads of each
    ECG); the variant's other leads are zero."""
    try:
        rate = float(fs)
    except (TypeError, ValueError):
        rate = float("nan")
    if not (np.isfinite(rate) and rate > 0):
        raise ECGValidationError(
            "bad_sampling_rate",
            f"sampling rate {fs!r} Hz is not a positive finite number")
    duration = signals.shape[1] / rate
    if duration < min_duration_s:
        raise ECGValidationError(
            "too_short",
            f"record is {duration:.2f} s long ({signals.shape[1]} samples at "
            f"{rate:g} Hz); at least {min_duration_s:g} s needed")
    window = np.asarray(signals[:, :round(ECG_DURATION_S * rate)], dtype=np.float32)
    if columns != list(range(signals.shape[-1])):  # a copy only when leads move
        window = np.take(window, columns, axis=-1)
    flat = _check_window(window, rate, leads, flat_threshold_mv, max_amplitude_mv,
                         max_flat_leads)
    resampled = resample_linear(window, variant.input_length)
    if len(leads) == variant.num_leads:
        return resampled, flat
    tensors = np.zeros(resampled.shape[:-1] + (variant.num_leads,), np.float32)
    tensors[..., [variant.leads.index(lead) for lead in leads]] = resampled
    return tensors, flat


def _check_window(window, rate, leads, flat_threshold_mv, max_amplitude_mv, max_flat_leads):
    """Raises for the first ECG with NaN/inf, then too many flat leads, then microvolts.

    Returns the tolerated flat leads of each ECG (lists of names).
    """
    seconds = f"{window.shape[1] / rate:g} s"
    not_finite = ~np.isfinite(window)
    if not_finite.any():
        index, column = np.argwhere(not_finite.any(axis=1))[0]
        count = not_finite[index, :, column].sum()
        raise ECGValidationError(
            "not_finite", f"lead {leads[column]} contains NaN or inf ({count} of "
            f"{window.shape[1]} samples in the first {seconds})",
            lead=leads[column], index=int(index))

    leads_last = np.ascontiguousarray(np.moveaxis(window, 1, -1))  # fast reductions
    peak_to_peak = leads_last.max(axis=-1) - leads_last.min(axis=-1)
    is_flat = peak_to_peak < flat_threshold_mv
    counts = is_flat.sum(axis=-1)
    too_many = (counts > max_flat_leads) | (counts >= len(leads))
    if too_many.any():
        index = int(np.argmax(too_many))
        columns = np.flatnonzero(is_flat[index])
        if len(columns) == 1:
            what = (f"lead {leads[columns[0]]} is flat (peak-to-peak "
                    f"{peak_to_peak[index, columns[0]]:.3f} mV")
        else:
            what = "leads {} are flat (peak-to-peak {}".format(
                ", ".join(leads[c] for c in columns),
                ", ".join(f"{peak_to_peak[index, c]:.3f}" for c in columns) + " mV")
        tolerated = (f"; at most {max_flat_leads} flat lead(s) tolerated"
                     if max_flat_leads else "")
        raise ECGValidationError(
            "flat_lead", f"{what} over {seconds}; at least {flat_threshold_mv:g} mV "
            f"expected{tolerated})",
            lead=leads[columns[0]], index=index)
    flat = [[leads[c] for c in np.flatnonzero(row)] for row in is_flat]

    # |x - median| <= peak-to-peak: only leads this large can look like microvolts.
    if not (peak_to_peak > max_amplitude_mv).any():
        return flat
    deviation = np.abs(leads_last - np.median(leads_last, axis=-1, keepdims=True))
    amplitude = np.percentile(deviation, 99, axis=-1)
    if (amplitude > max_amplitude_mv).any():
        index, column = np.argwhere(amplitude > max_amplitude_mv)[0]
        raise ECGValidationError(
            "microvolts", f"lead {leads[column]} looks like microvolts, not "
            f"millivolts (99th-percentile amplitude {amplitude[index, column]:.1f} "
            f"mV, above {max_amplitude_mv:g} mV); divide the signal by 1000",
            lead=leads[column], index=int(index))
    return flat
