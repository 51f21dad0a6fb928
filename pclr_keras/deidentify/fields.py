"""Which of a file's metadata fields an output may carry, by mode.

A list of safe fields and not a list of identifying ones: a field nobody
has classified (a WFDB header comment, a key a new reader adds) is dropped,
not published. A birth date becomes an age in whole years, in every mode,
when the file gives no age.
"""

import datetime
import re

from pclr_keras.deidentify.pseudonyms import pseudonym

MODES = ("remove", "pseudonymize", "keep")
# Reader metadata that identifies no one and that analyses use.
SAFE_FIELDS = frozenset({
    "age", "age_units", "sex",                          # demographics the probes use
    "device",                                           # model name, not a serial
    "format", "sop_class", "waveform",                  # what kind of file and signal
    "stored_leads", "derived_leads", "extra_channels",  # how the leads were obtained
    "ignored_waveforms", "ignored_rhythm_series",
})
# Fields of the formats known to identify a person, by the key a reader
# gives them (those read today and those the formats carry).
IDENTIFYING_FIELDS = {
    "patient_id": "the file's patient id / MRN",
    "ecg_id": "the file's own ECG id (DICOM and version-1 UUIDs embed the acquisition time)",
    "date_of_birth": "birth date (becomes an age)",
    "acquisition_date": "date of the recording",
    "acquisition_time": "time (HL7, DICOM: date and time) of the recording",
    "date": "date of the recording (ml4h HDF5 attribute)",
    "dx": "free-text interpretation (may hold dates and names); coded diagnoses stay",
    "dx_original": "free-text interpretation as first read",
    "median_beats": "a second record, holding the file's path",
    "patient_name": "patient's name", "other_patient_ids": "further patient ids",
    "address": "patient's address", "institution": "institution / hospital / site name",
    "department": "department or ward", "location": "location, room or bed",
    "operator": "technician or operator",
    "physician": "referring, reading or confirming physician",
    "device_serial": "device serial number or station name",
    "accession_number": "order, visit or accession number",
    "comments": "free text: comments, reasons, annotations",
}
PSEUDONYMIZED_FIELDS = ("patient_id", "ecg_id")
# A diagnosis made only of codes (SNOMED CT numbers, ICD-10 such as I21.4):
# the WFDB `#Dx:` lines of the PhysioNet challenges. Free text does not match.
_CODE_LIST = re.compile(r"\s*[A-Z]?\d+(\.\d+)?(\s*[,;]\s*[A-Z]?\d+(\.\d+)?)*\s*")


# What exports write where the patient is unknown: all x, all 0, or a word for none.
_PLACEHOLDER_PATIENT_ID = re.compile(r"\s*(x+|0+|unknown|n/?a|none)?\s*", re.IGNORECASE)


def is_placeholder_patient_id(value):
    """Whether a patient id says nothing (None, blank, `XXXX`, `0000`, `unknown`,
    `n/a`, `none`): such ECGs have no patient id, or they would count as one patient."""
    return value is None or _PLACEHOLDER_PATIENT_ID.fullmatch(str(value)) is not None


def parse_date(text):
    """A date as the formats write it, or None when it cannot be read for sure.

    YYYYMMDD[...] (DICOM DA/DT, HL7 TS), YYYY-MM-DD[...] (Philips, ISO),
    MM-DD-YYYY or MM/DD/YYYY (GE MUSE; day first when the first number is
    above 12), DD.MM.YYYY. Anything else (numbers, None) gives None.
    """
    if not isinstance(text, str):
        return None  # e.g. an ml4h epoch number: a date only by convention
    text = text.strip()
    patterns = (
        (r"(\d{4})(\d{2})(\d{2})", "ymd"),
        (r"(\d{4})-(\d{1,2})-(\d{1,2})", "ymd"),
        (r"(\d{1,2})[-/](\d{1,2})[-/](\d{4})", "mdy"),
        (r"(\d{1,2})\.(\d{1,2})\.(\d{4})", "dmy"),
    )
    for pattern, order in patterns:
        match = re.match(pattern, text)
        if not match:
            continue
        a, b, c = map(int, match.groups())
        year, month, day = {"ymd": (a, b, c), "dmy": (c, b, a),
                            "mdy": (c, b, a) if a > 12 else (c, a, b)}[order]
        try:
            return datetime.date(year, month, day)
        except ValueError:
            return None
    return None


def age_from(birth_date, acquisition_date):
    """Age in whole years at the recording, or None (missing or unreadable dates: no guess)."""
    born, recorded = parse_date(birth_date), parse_date(acquisition_date)
    if born is None or recorded is None or born > recorded:
        return None
    return recorded.year - born.year - ((recorded.month, recorded.day) < (born.month, born.day))


def _acquisition_date(meta):
    for key in ("acquisition_date", "acquisition_time", "date"):
        if parse_date(meta.get(key)) is not None:
            return meta[key]
    return None


def _is_safe(name, value):
    if name == "dx":
        return isinstance(value, str) and _CODE_LIST.fullmatch(value) is not None
    return name in SAFE_FIELDS


def deidentify(meta, mode="remove", key=None, supplied=()):
    """A reader's metadata as an output may carry it.

    Args:
        meta: dict. `ECGRecord.meta`.
        mode: "remove", "pseudonymize" or "keep" (see the module docstring).
        key: bytes. The key (`read_key`); needed for "pseudonymize".
        supplied: names of fields the user chose on purpose (an explicit
            `--patient-id-field`): kept as they are in every mode.

    Returns:
        dict: a new mapping; `meta` is not changed.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "pseudonymize" and not key:
        raise ValueError("mode 'pseudonymize' needs a key (read_key(KEYFILE))")
    out = {}
    for name, value in meta.items():
        if mode == "keep" or name in supplied or _is_safe(name, value):
            out[name] = value
        elif mode == "pseudonymize" and name in PSEUDONYMIZED_FIELDS and value not in (None, ""):
            out[name] = pseudonym(key, value)
    if "age" not in out:  # derived the same way in every mode
        age = age_from(meta.get("date_of_birth"), _acquisition_date(meta))
        if age is not None:
            out["age"] = age
    return out
