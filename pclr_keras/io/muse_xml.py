"""GE MUSE XML resting ECGs (`<RestingECG>` exports), read without trusting the file.

Layout of a MUSE export, as read here:

    <RestingECG>
      <PatientDemographics> PatientID, PatientAge, AgeUnits, Gender
      <TestDemographics>    AcquisitionDate, AcquisitionTime
      <Diagnosis>           DiagnosisStatement/StmtText (+ StmtFlag ENDSLINE)
      <OriginalDiagnosis>   the same, as the machine first read it
      <PharmaData>          PharmaUniqueECGID
      <Waveform>            one per WaveformType: "Median" (one beat) and
                            "Rhythm" (the 10 s strip); rate SampleBase *
                            10**SampleExponent Hz; one <LeadData> per stored
                            lead: LeadID, LeadSampleCountTotal,
                            LeadByteCountTotal, LeadSampleSize (bytes, 2),
                            LeadAmplitudeUnitsPerBit (e.g. 4.88),
                            LeadAmplitudeUnits (MICROVOLTS), and WaveFormData:
                            base64 of little-endian signed integers.

MUSE usually stores the 8 independent leads I, II, V1-V6; the other limb
leads follow from Einthoven's and Goldberger's relations and are derived here
when the file lacks them (`meta["derived_leads"]` names them).

Security: parsed with `safe_xml.parse_untrusted_xml` (no entities, no DTD
internal subset); MUSE's own bare DOCTYPE line is accepted.
"""

import base64
import binascii
import math

import numpy as np

from pclr_keras.io.leads import add_derived_limb_leads, millivolts_per_unit, standard_order
from pclr_keras.io.record import ECGReadError, ECGRecord
from pclr_keras.io.safe_xml import parse_untrusted_xml

_SAMPLE_DTYPES = {1: "<i1", 2: "<i2", 4: "<i4"}


def _parse(source, path):
    root = parse_untrusted_xml(source, path, "MUSE")
    if root.tag != "RestingECG":
        raise ECGReadError(source, f"root element is <{root.tag}>, not <RestingECG>: "
                                   "not a GE MUSE resting ECG export")
    return root


def _text(node, tag):
    """Whitespace-trimmed text of child `tag` of `node`, or None."""
    if node is None:
        return None
    child = node.find(tag)
    if child is None or child.text is None:
        return None
    text = child.text.strip()
    return text or None


def _number(text, source, what):
    try:
        value = float(text.replace(",", "."))
    except (AttributeError, ValueError):
        raise ECGReadError(source, f"{what} is {text!r}, not a number") from None
    if not math.isfinite(value):
        raise ECGReadError(source, f"{what} is {text!r}, not a finite number")
    return value


def _integer(text, source, what):
    value = _number(text, source, what)
    if value != int(value) or value < 0:
        raise ECGReadError(source, f"{what} is {text!r}, not a whole number")
    return int(value)


def _statements(diagnosis):
    """Diagnosis lines: StmtText fragments joined up to each ENDSLINE flag."""
    if diagnosis is None:
        return []
    lines, current = [], []
    for statement in diagnosis.iter("DiagnosisStatement"):
        text = _text(statement, "StmtText")
        if text:
            current.append(" ".join(text.split()))
        flags = {(flag.text or "").strip().upper() for flag in statement.findall("StmtFlag")}
        if "ENDSLINE" in flags and current:
            lines.append(" ".join(current))
            current = []
    if current:
        lines.append(" ".join(current))
    return lines


def _meta(root):
    meta = {}
    patient = root.find("PatientDemographics")
    test = root.find("TestDemographics")
    for key, node, tag in (
        ("patient_id", patient, "PatientID"),
        ("age", patient, "PatientAge"),
        ("age_units", patient, "AgeUnits"),
        ("sex", patient, "Gender"),
        ("acquisition_date", test, "AcquisitionDate"),
        ("acquisition_time", test, "AcquisitionTime"),
        ("ecg_id", root.find("PharmaData"), "PharmaUniqueECGID"),
    ):
        value = _text(node, tag)
        if value is not None:
            meta[key] = value
    name = [part for part in (_text(patient, "PatientLastName"),
                              _text(patient, "PatientFirstName")) if part]
    if name:  # to tell whether a file's name spells it (pclr_keras.deidentify.paths)
        meta["patient_name"] = "^".join(name)
    for key, tag in (("dx", "Diagnosis"), ("dx_original", "OriginalDiagnosis")):
        lines = _statements(root.find(tag))
        if lines:
            meta[key] = "; ".join(lines)
    return meta


def _select_waveform(root, waveform, source):
    wanted = waveform.strip().lower()
    found = [node for node in root.findall("Waveform")
             if (_text(node, "WaveformType") or "").lower() == wanted]
    if not found:
        present = sorted({_text(node, "WaveformType") or "(untyped)"
                          for node in root.findall("Waveform")})
        raise ECGReadError(source, f"no {waveform} waveform in the file (it holds: "
                                   f"{', '.join(present) if present else 'no waveforms'})")
    return found[0], len(found)


def _read_lead(lead_data, kind, source):
    lead_id = _text(lead_data, "LeadID")
    if lead_id is None:
        raise ECGReadError(source, f"a LeadData element of the {kind} waveform has no LeadID")
    where = f"lead {lead_id} of the {kind} waveform"
    encoded = lead_data.findtext("WaveFormData") or ""
    encoded = "".join(encoded.split())  # MUSE wraps the base64 text over lines
    if not encoded:
        raise ECGReadError(source, f"{where} has no WaveFormData")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ECGReadError(source, f"{where}: WaveFormData is not valid base64 "
                                   f"({error})") from error

    size_text = _text(lead_data, "LeadSampleSize")
    size = 2 if size_text is None else _integer(size_text, source, f"{where}: LeadSampleSize")
    if size not in _SAMPLE_DTYPES:
        raise ECGReadError(source, f"{where}: LeadSampleSize {size} bytes is not supported "
                                   "(1, 2 or 4)")
    if len(payload) % size:
        raise ECGReadError(source, f"{where}: {len(payload)} bytes of data are not a whole "
                                   f"number of {size}-byte samples")
    byte_text = _text(lead_data, "LeadByteCountTotal")
    if byte_text is not None:
        expected = _integer(byte_text, source, f"{where}: LeadByteCountTotal")
        if expected != len(payload):
            raise ECGReadError(source, f"{where}: LeadByteCountTotal says {expected} bytes but "
                                       f"WaveFormData holds {len(payload)}")
    counts = np.frombuffer(payload, dtype=_SAMPLE_DTYPES[size])
    count_text = _text(lead_data, "LeadSampleCountTotal")
    if count_text is not None:
        expected = _integer(count_text, source, f"{where}: LeadSampleCountTotal")
        if expected != counts.size:
            raise ECGReadError(source, f"{where}: LeadSampleCountTotal says {expected} samples "
                                       f"but WaveFormData holds {counts.size} (sample count "
                                       "mismatch: truncated or edited file)")

    step_text = _text(lead_data, "LeadAmplitudeUnitsPerBit")
    if step_text is None:
        raise ECGReadError(source, f"{where} has no LeadAmplitudeUnitsPerBit; its amplitude "
                                   "cannot be converted to millivolts")
    step = _number(step_text, source, f"{where}: LeadAmplitudeUnitsPerBit")
    if step <= 0:
        raise ECGReadError(source, f"{where}: LeadAmplitudeUnitsPerBit is {step_text!r}, "
                                   "not positive")
    # restecg.dtd's default unit is microvolts; every MUSE export we know of says so.
    unit = _text(lead_data, "LeadAmplitudeUnits") or "MICROVOLTS"
    scale = millivolts_per_unit(unit)
    if scale is None:
        raise ECGReadError(source, f"{where}: unknown LeadAmplitudeUnits {unit!r} (expected "
                                   "MICROVOLTS, MILLIVOLTS, VOLTS or NANOVOLTS)")
    return lead_id, counts.astype(np.float64) * (step * scale)


def _sampling_rate(node, kind, source):
    """The waveform's rate in Hz: SampleBase * 10**SampleExponent, checked positive."""
    base_text = _text(node, "SampleBase")
    if base_text is None:
        raise ECGReadError(source, f"the {kind} waveform has no SampleBase (sampling rate)")
    base = _number(base_text, source, f"{kind} SampleBase")
    exponent_text = _text(node, "SampleExponent")
    exponent = 0 if exponent_text is None else _number(exponent_text, source,
                                                        f"{kind} SampleExponent")
    fs = base * 10.0 ** exponent
    if not (math.isfinite(fs) and fs > 0):
        raise ECGReadError(source, f"the {kind} waveform's sampling rate "
                                   f"{base_text}e{exponent_text or 0} Hz is not positive")
    return fs


def _read_leads(node, kind, source):
    """Lead name -> mV of every LeadData of the waveform: at least one, each once,
    all of one length."""
    leads = {}
    for lead_data in node.findall("LeadData"):
        name, values = _read_lead(lead_data, kind, source)
        if name.lower() in {known.lower() for known in leads}:
            raise ECGReadError(source, f"lead {name} appears twice in the {kind} waveform")
        leads[name] = values
    if not leads:
        raise ECGReadError(source, f"the {kind} waveform holds no LeadData")
    lengths = {name: values.size for name, values in leads.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise ECGReadError(source, f"the leads of the {kind} waveform differ in length "
                                   f"({detail}); cannot form one multi-lead signal")
    return leads


def read_muse_xml(path, waveform="Rhythm"):
    """Reads a GE MUSE XML resting ECG into an `ECGRecord` in millivolts.

    Args:
        path: str or Path. The `.xml` export.
        waveform: str. Which `<Waveform>` to read, by `WaveformType`:
            "Rhythm" (the 10 s strip, default) or "Median" (the median beat,
            about 1.2 s). Matched case-insensitively; the first one wins if
            the file holds several.

    Returns:
        ECGRecord whose `signal` is (samples, leads) in mV, leads in standard
        12-lead order (I, II, III, aVR, aVL, aVF, V1-V6, as the file spells
        them) followed by any other stored leads; III, aVR, aVL and aVF are
        derived from I and II when the file lacks them (listed in
        `meta["derived_leads"]`). `meta` holds what the file carries of
        `patient_id`, `age`, `age_units`, `sex`, `acquisition_date`,
        `acquisition_time`, `ecg_id` (PharmaUniqueECGID), `dx` (Diagnosis
        lines joined by "; "), `dx_original` (OriginalDiagnosis), plus
        `waveform`, `stored_leads` and `derived_leads`.

    Raises:
        ECGReadError: the file is unreadable, not (well-formed) XML, truncated,
            declares XML entities or a DTD internal subset, is not a
            `RestingECG`, lacks the requested waveform, or a lead has bad
            base64, a sample or byte count that disagrees with its data, an
            unknown amplitude unit, or a different length from the others.
    """
    source = str(path)
    root = _parse(source, path)
    node, n_found = _select_waveform(root, waveform, source)
    kind = _text(node, "WaveformType")
    fs = _sampling_rate(node, kind, source)
    leads = _read_leads(node, kind, source)
    stored = list(leads)
    derived = add_derived_limb_leads(leads)
    names = standard_order(list(leads))
    meta = _meta(root)
    meta.update(waveform=kind, stored_leads=stored, derived_leads=derived)
    if n_found > 1:
        meta["ignored_waveforms"] = n_found - 1
    return ECGRecord(
        signal=np.stack([leads[name] for name in names], axis=1),
        lead_names=names,
        fs=float(fs),
        source=source,
        meta=meta,
    )
