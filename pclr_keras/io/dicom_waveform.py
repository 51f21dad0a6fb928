"""DICOM ECG waveforms (12-lead, General and Ambulatory ECG Waveform Storage).

Per the Waveform Module (PS3.3 C.10.9), a file holds multiplex groups in
WaveformSequence, each with SamplingFrequency, NumberOfWaveformChannels /
Samples, interleaved WaveformData and one ChannelDefinitionSequence item
per channel: ChannelSourceSequence (the lead, as an SCP-ECG or MDC code),
ChannelSensitivity with ChannelSensitivityUnitsSequence (UCUM: uV, mV),
ChannelSensitivityCorrectionFactor and ChannelBaseline (an offset in the
sensitivity's units). A sample's value is

    (raw * ChannelSensitivity * ChannelSensitivityCorrectionFactor
     + ChannelBaseline) in the channel's units, converted here to mV.

The rhythm is the group labelled "RHYTHM" (MultiplexGroupLabel), else the
longest ORIGINAL group that is not a median beat; "MEDIAN BEAT" groups are
returned only on request, in `meta`. `pydicom` decodes the bytes.
"""

import math
import re

import numpy as np

from pclr_keras.io.leads import millivolts_per_unit, standard_order
from pclr_keras.io.record import ECGReadError, ECGRecord
from pclr_keras.variants import normalize_lead_name

ECG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG",
    "1.2.840.10008.5.1.4.1.1.9.1.2": "General ECG",
    "1.2.840.10008.5.1.4.1.1.9.1.3": "Ambulatory ECG",
}
# SCP-ECG lead numbers (codes "5.6.3-9-<n>", MDC "2:<n>") of the 12 standard leads.
_SCPECG_LEADS = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6",
                 61: "III", 62: "aVR", 63: "aVL", 64: "aVF"}
_MEDIAN_WORDS = ("MEDIAN", "BEAT", "REPRESENTATIVE", "AVERAGE")


def is_dicom_file(path):
    """Whether `path` starts with the DICOM preamble's "DICM" marker."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _lead_name(channel):
    sources = channel.get("ChannelSourceSequence") or []
    if not sources:
        label = channel.get("ChannelLabel")
        return normalize_lead_name(label) if label else None
    item = sources[0]
    value = str(item.get("CodeValue", "")).strip()
    scheme = str(item.get("CodingSchemeDesignator", "")).upper()
    number = None
    if scheme.startswith("SCPECG") and value.startswith("5.6.3-9-"):
        number = value.rpartition("-")[2]
    elif scheme == "MDC" and value.startswith("2:"):
        number = value[2:]
    if number and number.isdigit() and int(number) in _SCPECG_LEADS:
        return _SCPECG_LEADS[int(number)]
    meaning = str(item.get("CodeMeaning", "")).split("(")[0].strip()
    return normalize_lead_name(meaning or value)


def _is_median(group):
    label = str(group.get("MultiplexGroupLabel", "")).upper()
    return any(word in label for word in _MEDIAN_WORDS)


def _choose(groups):
    """Index of the rhythm group, or None."""
    labelled = [i for i, g in enumerate(groups)
                if str(g.get("MultiplexGroupLabel", "")).strip().upper() == "RHYTHM"]
    if labelled:
        return labelled[0]
    candidates = [i for i, g in enumerate(groups)
                  if not _is_median(g) and str(g.get("WaveformOriginality", "ORIGINAL")).upper()
                  == "ORIGINAL"]
    if not candidates:
        return None
    return max(candidates, key=lambda i: int(groups[i].get("NumberOfWaveformSamples", 0)))


def _number(value, default, source, what):
    if value is None:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ECGReadError(source, f"{what} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise ECGReadError(source, f"{what} is {value!r}, not finite")
    return number


def _group_record(ds, index, source, meta):
    from pydicom.waveforms.numpy_handler import multiplex_array

    group = ds.WaveformSequence[index]
    kind = str(group.get("MultiplexGroupLabel") or f"group {index}")
    try:
        raw = multiplex_array(ds, index, as_raw=True)
    except (AttributeError, KeyError, ValueError) as error:
        raise ECGReadError(source, f"waveform {kind}: cannot decode its data ({error})") from None
    fs = _number(group.get("SamplingFrequency"), None, source, f"{kind} SamplingFrequency")
    if fs is None or fs <= 0:
        raise ECGReadError(source, f"waveform {kind} has no positive SamplingFrequency")
    channels = group.get("ChannelDefinitionSequence") or []
    if len(channels) != raw.shape[1]:
        raise ECGReadError(source, f"waveform {kind}: {len(channels)} channel definitions "
                                   f"for {raw.shape[1]} channels of data")
    signal = np.empty(raw.shape, dtype=np.float64)
    names = []
    for k, channel in enumerate(channels):
        name = _lead_name(channel) or f"Channel {k + 1}"
        where = f"waveform {kind}, channel {k + 1} ({name})"
        sensitivity = _number(channel.get("ChannelSensitivity"), None, source,
                              f"{where}: ChannelSensitivity")
        if sensitivity is None or sensitivity == 0:
            raise ECGReadError(source, f"{where} has no ChannelSensitivity: its samples are "
                                       "in arbitrary units and cannot be converted to mV")
        units = channel.get("ChannelSensitivityUnitsSequence") or []
        unit = str(units[0].get("CodeValue", "")) if units else ""
        to_mv = millivolts_per_unit(unit)
        if to_mv is None:
            raise ECGReadError(source, f"{where}: unknown sensitivity unit {unit!r} "
                                       "(expected uV, mV or V)")
        correction = _number(channel.get("ChannelSensitivityCorrectionFactor"), 1.0, source,
                             f"{where}: ChannelSensitivityCorrectionFactor")
        baseline = _number(channel.get("ChannelBaseline"), 0.0, source,
                           f"{where}: ChannelBaseline")
        signal[:, k] = (raw[:, k] * (sensitivity * correction) + baseline) * to_mv
        names.append(name)
    if len({n.lower() for n in names}) != len(names):
        raise ECGReadError(source, f"waveform {kind}: a lead appears twice in {names}")
    order = standard_order(names)
    columns = [names.index(n) for n in order]
    return ECGRecord(signal[:, columns], order, float(fs), source,
                     dict(meta, waveform=kind.lower()))


def _meta(ds):
    meta = {}
    for key, keyword in (("patient_id", "PatientID"), ("age", "PatientAge"),
                         ("sex", "PatientSex"), ("date_of_birth", "PatientBirthDate"),
                         ("acquisition_time", "AcquisitionDateTime"),
                         ("device", "ManufacturerModelName"), ("ecg_id", "SOPInstanceUID"),
                         ("patient_name", "PatientName")):
        value = ds.get(keyword)
        if value not in (None, ""):
            meta[key] = str(value)
    if "age" in meta:
        age = age_in_years(meta.pop("age"))
        if age is not None:  # unreadable: no guess (a birth date may still give one)
            meta["age"] = age
    return meta


# DICOM's Age String (AS): nnnD, nnnW, nnnM or nnnY.
_AGE_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def age_in_years(text):
    """A DICOM age string (`055Y`, `018M`, `010W`, `003D`) as years, a float, so ages
    read the same from every format; a bare number is taken as years; else None."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([DWMY]?)\s*", str(text), re.IGNORECASE)
    if match is None:
        return None
    number, unit = match.groups()
    return float(number) * _AGE_UNIT_YEARS[unit.upper() or "Y"]


def read_dicom_waveform(path, median_beats=False):
    """Reads a DICOM ECG waveform file's rhythm into an `ECGRecord` in millivolts.

    Args:
        path: str or Path. A DICOM file (any extension).
        median_beats: bool. Also return a "MEDIAN BEAT" group, when present,
            as `meta["median_beats"]` (an `ECGRecord`).

    Returns:
        ECGRecord of the rhythm group, leads in standard order then others;
        `meta`: `patient_id`, `age` (years, a float), `sex`, `date_of_birth`,
        `acquisition_time`, `device`, `ecg_id` (SOP Instance UID) where
        present, `sop_class`, `waveform`.

    Raises:
        ECGReadError: not DICOM, not an ECG waveform, no rhythm group, or
            channels without sensitivity or with unknown units.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    source = str(path)
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError) as error:
        raise ECGReadError(source, f"not a readable DICOM file ({error})") from None
    sop = str(ds.get("SOPClassUID", ""))
    if sop not in ECG_SOP_CLASSES and str(ds.get("Modality", "")).upper() != "ECG":
        raise ECGReadError(source, f"DICOM SOP class {sop or '(none)'} is not an ECG waveform "
                                   f"({', '.join(ECG_SOP_CLASSES.values())} Waveform Storage)")
    groups = ds.get("WaveformSequence") or []
    if not groups:
        raise ECGReadError(source, "the DICOM file has no WaveformSequence")
    index = _choose(groups)
    if index is None:
        labels = [str(g.get("MultiplexGroupLabel", "")) for g in groups]
        raise ECGReadError(source, f"no rhythm waveform among the groups {labels}")
    meta = dict(_meta(ds), sop_class=ECG_SOP_CLASSES.get(sop, sop))
    record = _group_record(ds, index, source, meta)
    if median_beats:
        medians = [i for i, g in enumerate(groups) if i != index and _is_median(g)]
        if medians:
            record.meta["median_beats"] = _group_record(ds, medians[0], source, {})
    return record
