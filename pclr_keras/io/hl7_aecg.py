"""HL7 annotated ECGs (aECG, the FDA's format: `<AnnotatedECG>`, urn:hl7-org:v3).

Layout, as read here:

    AnnotatedECG/id@root, effectiveTime (low or center @value)
      componentOf/.../trialSubject: id@extension (subject),
          subjectDemographicPerson/administrativeGenderCode@code, birthTime@value
      controlVariable/relatedObservation code 21612-7 (age): value@value, @unit
      component/series: code@code "RHYTHM" (the recorded strip)
          component/sequenceSet/component/sequence, one per signal:
              code TIME_ABSOLUTE or TIME_RELATIVE: value (GLIST_TS / GLIST_PQ)
                  increment@value, @unit (s or ms) -> the sampling rate
              code MDC_ECG_LEAD_<name>: value xsi:type SLIST_PQ with
                  origin@value/@unit, scale@value/@unit and digits: integers;
                  sample = origin + scale * digit, in the PQ unit (uV, mV)
          derivation/derivedSeries: code REPRESENTATIVE_BEAT (median beats)

Leads may come in any order and may omit III, aVR, aVL, aVF (derived from
I and II then, listed in `meta["derived_leads"]`). Parsed with
`safe_xml.parse_untrusted_xml`; the FDA's `aecg` package needs Python 3.12
and builds on plain lxml, so it is not used.
"""

import math

import numpy as np

from pclr_keras.io.leads import add_derived_limb_leads, millivolts_per_unit, standard_order
from pclr_keras.io.record import ECGReadError, ECGRecord
from pclr_keras.io.safe_xml import local_name, parse_untrusted_xml
from pclr_keras.variants import normalize_lead_name

LEAD_PREFIX = "MDC_ECG_LEAD_"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_AGE_CODE = "21612-7"


def _children(node, name):
    return [child for child in node if local_name(child.tag) == name]


def _child(node, name):
    found = _children(node, name) if node is not None else []
    return found[0] if found else None


def _path(node, *names):
    for name in names:
        node = _child(node, name)
        if node is None:
            return None
    return node


def _code(node):
    code = _child(node, "code")
    return (code.get("code") or "").strip() if code is not None else ""


def _quantity(node, source, what, units, allow_zero=True):
    """(value, factor to the target unit) of a PQ element."""
    if node is None:
        raise ECGReadError(source, f"{what} is missing")
    text, unit = node.get("value"), (node.get("unit") or "").strip()
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ECGReadError(source, f"{what} is {text!r}, not a number") from None
    if not math.isfinite(value) or (value <= 0 and not allow_zero):
        raise ECGReadError(source, f"{what} is {text!r}, not a valid value")
    factor = units(unit)
    if factor is None:
        raise ECGReadError(source, f"{what} has unknown unit {unit!r}")
    return value, factor


def _sequences(sequence_set):
    for component in _children(sequence_set, "component"):
        sequence = _child(component, "sequence")
        if sequence is not None:
            yield sequence


def _read_set(sequence_set, source, kind):
    """(leads dict in mV, fs) of one sequenceSet."""
    fs, leads = None, {}
    for sequence in _sequences(sequence_set):
        code, value = _code(sequence), _child(sequence, "value")
        if value is None:
            continue
        if code.startswith("TIME_"):
            step, factor = _quantity(_child(value, "increment"), source,
                                     f"{kind} time increment", _SECONDS.get, allow_zero=False)
            fs = 1.0 / (step * factor)
        elif code.startswith(LEAD_PREFIX):
            name = normalize_lead_name(code[len(LEAD_PREFIX):])
            where = f"{kind} lead {name}"
            if (value.get(_XSI_TYPE) or "SLIST_PQ").split(":")[-1] != "SLIST_PQ":
                raise ECGReadError(source, f"{where}: value type {value.get(_XSI_TYPE)!r} is "
                                           "not supported (SLIST_PQ)")
            origin, origin_mv = _quantity(_child(value, "origin"), source, f"{where} origin",
                                          millivolts_per_unit)
            scale, scale_mv = _quantity(_child(value, "scale"), source, f"{where} scale",
                                        millivolts_per_unit, allow_zero=False)
            digits = _child(value, "digits")
            try:
                counts = np.array((digits.text or "").split() if digits is not None else [],
                                  dtype=np.float64)
            except ValueError as error:
                raise ECGReadError(source, f"{where}: digits are not numbers ({error})") from None
            if not counts.size:
                raise ECGReadError(source, f"{where} has no digits")
            if name.lower() in {known.lower() for known in leads}:
                raise ECGReadError(source, f"{where} appears twice")
            leads[name] = origin * origin_mv + counts * (scale * scale_mv)
    if fs is None:
        raise ECGReadError(source, f"the {kind} sequence set has no TIME_ABSOLUTE or "
                                   "TIME_RELATIVE sequence with an increment")
    if not leads:
        raise ECGReadError(source, f"the {kind} sequence set holds no MDC_ECG_LEAD_ sequence")
    lengths = {name: values.size for name, values in leads.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise ECGReadError(source, f"the {kind} leads differ in length ({detail})")
    return leads, fs


def _record(leads, fs, source, meta):
    stored = list(leads)
    derived = add_derived_limb_leads(leads)
    names = standard_order(list(leads))
    return ECGRecord(np.stack([leads[n] for n in names], axis=1), names, float(fs), source,
                     dict(meta, stored_leads=stored, derived_leads=derived))


def _meta(root):
    meta = {}
    if _child(root, "id") is not None and _child(root, "id").get("root"):
        meta["ecg_id"] = _child(root, "id").get("root")
    time = _child(root, "effectiveTime")
    for bound in ("low", "center"):
        point = _child(time, bound) if time is not None else None
        if point is not None and point.get("value"):
            meta["acquisition_time"] = point.get("value")
            break
    for node in root.iter():
        name = local_name(node.tag)
        if name == "trialSubject" and _child(node, "id") is not None:
            meta.setdefault("patient_id", _child(node, "id").get("extension"))
        elif name == "administrativeGenderCode" and node.get("code"):
            meta.setdefault("sex", node.get("code"))
        elif name == "birthTime" and node.get("value"):
            meta.setdefault("date_of_birth", node.get("value"))
        elif name == "relatedObservation" and _code(node) == _AGE_CODE:
            value = _child(node, "value")
            if value is not None and value.get("value"):
                meta.setdefault("age", value.get("value"))
                meta.setdefault("age_units", value.get("unit"))
        elif name == "manufacturerModelName" and node.text and node.text.strip():
            meta.setdefault("device", node.text.strip())
    return {key: value for key, value in meta.items() if value}


def read_hl7_aecg(path, median_beats=False):
    """Reads an HL7 aECG file's rhythm into an `ECGRecord` in millivolts.

    Args:
        path: str or Path. The `<AnnotatedECG>` XML file.
        median_beats: bool. Also read the REPRESENTATIVE_BEAT derived series
            into `meta["median_beats"]` (an `ECGRecord`), when present.

    Returns:
        ECGRecord of the first RHYTHM series (leads in standard order, then
        others such as V7 or X); `meta`: `ecg_id`, `acquisition_time`,
        `patient_id`, `sex`, `date_of_birth`, `age`, `age_units`, `device`
        where present, `stored_leads`, `derived_leads`, `waveform`.

    Raises:
        ECGReadError: unsafe or malformed XML, no rhythm series, or a lead
            whose origin, scale, unit or digits cannot be read.
    """
    source = str(path)
    root = parse_untrusted_xml(source, path, "HL7 aECG")
    if local_name(root.tag) != "AnnotatedECG":
        raise ECGReadError(source, f"root element is <{local_name(root.tag)}>, not "
                                   "<AnnotatedECG>: not an HL7 aECG file")
    series = [node for node in root.iter() if local_name(node.tag) == "series"]
    rhythm = [node for node in series if _code(node).upper() == "RHYTHM"]
    if not rhythm:
        codes = sorted({_code(node) or "(none)" for node in series})
        raise ECGReadError(source, f"no RHYTHM series (series codes: {codes or 'none'})")
    sequence_set = _path(rhythm[0], "component", "sequenceSet")
    if sequence_set is None:
        raise ECGReadError(source, "the RHYTHM series has no component/sequenceSet")
    meta = dict(_meta(root), waveform="rhythm")
    if len(rhythm) > 1:
        meta["ignored_rhythm_series"] = len(rhythm) - 1
    leads, fs = _read_set(sequence_set, source, "rhythm")
    if median_beats:
        for derived in rhythm[0].iter():
            if local_name(derived.tag) == "derivedSeries" and \
                    _code(derived).upper() == "REPRESENTATIVE_BEAT":
                beat_set = _path(derived, "component", "sequenceSet")
                if beat_set is not None:
                    beats, beat_fs = _read_set(beat_set, source, "median beat")
                    meta["median_beats"] = _record(beats, beat_fs, source,
                                                   {"waveform": "median beat"})
                break
    return _record(leads, fs, source, meta)
