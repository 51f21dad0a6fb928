"""What may leave the building: the identifier policy for everything pclr writes.

Hospital ECG files carry the patient's id, name, birth date, the date and
time of the recording, the institution, staff, devices and free-text
statements. Readers keep what they find in `ECGRecord.meta`; this module
decides which of it reaches an output (labels.csv, shards, errors reports,
summaries, embeddings), in one of three modes:

- "remove" (default): only the fields in `SAFE_FIELDS` stay. A birth date
  becomes an age in whole years, when the file gives no age.
- "pseudonymize": as "remove", but the file's `patient_id` and `ecg_id`
  become `pseudonym(key, value)`, a keyed HMAC-SHA256: the same key gives
  the same pseudonym, so an archive's patient pairs still form, and no one
  without the key can go back or test a guess.
- "keep": everything as read, for data already inside a protected
  environment.

Why a list of safe fields and not a list of identifying ones: the XML and
DICOM readers produce a fixed set of keys, but WFDB header comments become
keys as written (`#Date of birth: ...`, `#Physician: ...`), and a reader
added later may add keys nobody classified. A field nobody has looked at
is dropped, not published. `IDENTIFYING_FIELDS` names what is known to
identify, for summaries and documentation; every other key not in
`SAFE_FIELDS` counts as "other".

The policy applies to what a file says. Values the user supplies on purpose
(a manifest's columns, the field named by `--patient-id-field`) are the
user's and pass as given (`supplied`).
"""

import collections
import dataclasses
import datetime
import hashlib
import hmac
import os
import re
from pathlib import Path, PurePosixPath

MODES = ("remove", "pseudonymize", "keep")
MIN_KEY_BYTES = 32
KEY_ADVICE = "create one with `openssl rand -hex 32 > KEYFILE` and keep it apart from the outputs"

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


class KeyFileError(ValueError):
    """A pseudonymization key file that cannot be used; names the file, never the key."""


def read_key(path):
    """The pseudonymization key in `path`: its bytes, less one final line break.

    Raises:
        KeyFileError: the file is missing, unreadable, empty or shorter than
            `MIN_KEY_BYTES` bytes (a short key makes pseudonyms guessable).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file; {KEY_ADVICE}") from None
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read the key file ({error.strerror})") from None
    key = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    if not key.strip():
        raise KeyFileError(f"{path}: the key file is empty; {KEY_ADVICE}")
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(f"{path}: the key is {len(key)} bytes, at least {MIN_KEY_BYTES} "
                           f"are needed; {KEY_ADVICE}")
    return key


def pseudonym(key, value):
    """HMAC-SHA256 of `str(value)` (UTF-8) under `key`, as 64 hex digits."""
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymous_ecg_id(key, ecg_id):
    """The pseudonym an output writes for `ecg_id` (a `relative_ecg_id`).

    Windows of one ECG keep their suffix on the pseudonym of the ECG's id
    (`pseudonymous_ecg_id(key, id) + "#w1"`), so they stay together.
    """
    return pseudonym(key, ecg_id)


def relative_ecg_id(path, data_root=None):
    """The id outputs give an ECG: its file relative to the data root, never absolute.

    Args:
        path: str or Path. The record's `source`: a file, optionally with the
            part of a many-ECG file after "#" (`codes.h5#exam_id=5`).
        data_root: str, Path or None. The folder the user gave. A file given
            directly (or None) gives the file's name alone.

    Returns:
        str: posix path without the file's suffix (as `io.record_id`), plus
        the "#" part, e.g. "site_a/0001" or "codes#exam_id=5".

    Raises:
        ValueError: `path` is not under `data_root`.
    """
    file_part, sep, inner = str(path).partition("#")
    file_path = Path(os.path.abspath(file_part))
    root = None if data_root is None else Path(os.path.abspath(data_root))
    if root is None or not root.is_dir():
        relative = PurePosixPath(file_path.name)
    else:
        try:
            relative = PurePosixPath(*file_path.relative_to(root).parts)
        except ValueError:
            raise ValueError(f"{path} is not under the data root {data_root}") from None
    return str(relative.with_suffix("")) + sep + inner


def without_root(text, data_root):
    """`text` (an error message) with the data root's absolute path taken out.

    "/hospital/ward7/ecg1.xml: bad base64" -> "ward7/ecg1.xml: bad base64"
    for the root /hospital, so errors reports name files as ids do.
    """
    root = Path(os.path.abspath(data_root))
    root = root if root.is_dir() else root.parent
    return str(text).replace(f"{root}{os.sep}", "")


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
    if mode == "keep":
        return dict(meta)
    out = {}
    for name, value in meta.items():
        if name in supplied or _is_safe(name, value):
            out[name] = value
        elif mode == "pseudonymize" and name in PSEUDONYMIZED_FIELDS and value not in (None, ""):
            out[name] = pseudonym(key, value)
    if "age" not in out:
        age = age_from(meta.get("date_of_birth"), _acquisition_date(meta))
        if age is not None:
            out["age"] = age
    return out


class IdentifierSummary:
    """What the policy took out of a job's outputs: counts by field, never values.

    `add` each ECG's metadata before and after `deidentify`; `merge` the
    summaries of parallel workers; `as_dict` goes into summary.json.
    """

    def __init__(self, mode="remove"):
        self.mode = mode
        self.patient_ids_removed = 0
        self.patient_ids_pseudonymized = 0
        self.fields_removed = collections.Counter()

    def add(self, meta, cleaned, patient_id_supplied=False):
        """Counts one ECG.

        Fields outside `IDENTIFYING_FIELDS` count as "other": their names
        (WFDB header comments) may themselves be free text.
        `patient_id_supplied`: the user gave this ECG's patient id (a
        manifest column), so removing the file's costs no pair.
        """
        for name in meta:
            if name not in cleaned:
                self.fields_removed[name if name in IDENTIFYING_FIELDS else "other"] += 1
        if meta.get("patient_id") not in (None, "") and not patient_id_supplied:
            if "patient_id" not in cleaned:
                self.patient_ids_removed += 1
            elif cleaned["patient_id"] != meta["patient_id"]:
                self.patient_ids_pseudonymized += 1

    @classmethod
    def from_dict(cls, stored):
        """A summary back from `as_dict` (stored in shards and part files)."""
        summary = cls(stored["identifiers"])
        summary.patient_ids_removed = stored["patient_ids_removed"]
        summary.patient_ids_pseudonymized = stored["patient_ids_pseudonymized"]
        summary.fields_removed.update(stored["fields_removed"])
        return summary

    def merge(self, other):
        self.patient_ids_removed += other.patient_ids_removed
        self.patient_ids_pseudonymized += other.patient_ids_pseudonymized
        self.fields_removed.update(other.fields_removed)
        return self

    def note(self):
        """The sentence telling the user patient pairs were not formed, or ""."""
        n = self.patient_ids_removed
        if not n:
            return ""
        return (f"{n} ECG(s) carried a patient id in their file; it was left out of every "
                "output, so these ECGs formed no patient pairs. Pass --pseudonymize KEYFILE "
                "for keyed pseudonyms (pairs form, ids stay hidden) or --keep-identifiers "
                "to keep the ids as read (inside a protected environment only).")

    def as_dict(self):
        return {"identifiers": self.mode,
                "patient_ids_removed": self.patient_ids_removed,
                "patient_ids_pseudonymized": self.patient_ids_pseudonymized,
                "fields_removed": dict(sorted(self.fields_removed.items())),
                "note": self.note()}


def shown_path(path, data_root=None):
    """`path` as an output may name it: relative to the data root (suffix kept), or
    its file name when it is not under the root; a "#..." part stays."""
    file_part, sep, inner = str(path).partition("#")
    absolute = Path(os.path.abspath(file_part))
    root = None if data_root is None else Path(os.path.abspath(data_root))
    if root is not None and root.is_dir():
        try:
            return str(PurePosixPath(*absolute.relative_to(root).parts)) + sep + inner
        except ValueError:
            pass
    return absolute.name + sep + inner


@dataclasses.dataclass(frozen=True)
class IdentifierPolicy:
    """How one job names ECGs and patients in what it writes; see the module docstring.

    The one place where a file's metadata, its path and its errors become
    output columns: `pclr_keras.ingest.read_ecgs` applies it for
    `tensorize`, `embed` and their Beam pipelines. Picklable (worker
    processes); `basis()` enters the digests of resumable outputs, so work
    done under another policy or key is never reused. The key is left out of
    `repr` and of `basis`.
    """

    mode: str = "remove"
    key: bytes = dataclasses.field(default=None, repr=False)
    patient_id_field: str = ""  # a metadata field named on purpose (`--patient-id-field`)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"identifiers must be one of {MODES}, not {self.mode!r}")
        if (self.mode == "pseudonymize") != bool(self.key):
            raise ValueError("identifiers='pseudonymize' needs a key file (key_file=...), "
                             "and only it takes one")

    @classmethod
    def of(cls, identifiers=None, key_file=None, patient_id_field=None):
        """From the options of the Python API and the CLI.

        identifiers: "remove", "pseudonymize" or "keep"; default "pseudonymize"
        when `key_file` is given, else "remove". `key_file`: see `read_key`.
        """
        if identifiers is None:
            identifiers = "pseudonymize" if key_file else "remove"
        key = read_key(key_file) if key_file else None
        return cls(identifiers, key, patient_id_field or "")

    def basis(self):
        """What of the policy decides an output's content: part of resume digests."""
        key = hashlib.sha256(b"pclr-keras key digest\0" + self.key).hexdigest() \
            if self.key else None
        return [self.mode, key, self.patient_id_field]

    def ecg_id(self, source, data_root=None, given=None):
        """The ECG's id in outputs: `given` (a manifest's) or `relative_ecg_id`,
        a pseudonym of it with "pseudonymize"."""
        if given not in (None, ""):
            ecg_id = str(given)
        else:
            try:
                ecg_id = relative_ecg_id(source, data_root)
            except ValueError:  # not under the root (a link out of it): the name alone
                ecg_id = relative_ecg_id(source)
        return pseudonymous_ecg_id(self.key, ecg_id) if self.mode == "pseudonymize" else ecg_id

    def source(self, source, data_root=None, ecg_id=None):
        """The `source` column: the file relative to the root; the ECG's (pseudonymous)
        id with "pseudonymize", since file names may carry names or record numbers."""
        if self.mode == "pseudonymize":
            return ecg_id if ecg_id is not None else self.ecg_id(source, data_root)
        return shown_path(source, data_root)

    def patient_id(self, meta, supplied=""):
        """The `patient_id` column: the manifest's (`supplied`), the explicit field's
        as read, else the file's `patient_id` by mode (left out, pseudonym, kept)."""
        if supplied not in (None, ""):
            return str(supplied)
        if self.patient_id_field:
            value = meta.get(self.patient_id_field)
            return "" if value is None else str(value)
        value = meta.get("patient_id")
        if value in (None, "") or self.mode == "remove":
            return ""
        return pseudonym(self.key, value) if self.mode == "pseudonymize" else str(value)

    def meta(self, meta):
        """`deidentify` under this policy (an explicit field is the user's: kept)."""
        supplied = (self.patient_id_field,) if self.patient_id_field else ()
        return deidentify(meta, self.mode, key=self.key, supplied=supplied)

    def error(self, row, data_root=None):
        """An errors-report row (source, problem, message) with the file named as
        `source` names it: no absolute path, and with "pseudonymize" no file name.

        Without a data root, a relative source is taken as relative to the
        root already (a manifest's path).
        """
        source, problem, message = (str(value) for value in row)
        file_part, sep, inner = source.partition("#")
        if data_root is None and not os.path.isabs(file_part):
            named = str(PurePosixPath(*Path(file_part).parts))
        else:
            named = shown_path(file_part, data_root)
        message = message.replace(os.path.abspath(file_part), named)
        if file_part not in named:
            message = message.replace(file_part, named)
        if data_root is not None:
            message = without_root(message, data_root)
        if self.mode != "pseudonymize":
            return named + sep + inner, problem, message
        shown = self.ecg_id(None, given=str(PurePosixPath(named).with_suffix("")) + sep + inner)
        for text in sorted({named, str(PurePosixPath(named).with_suffix(""))},
                           key=len, reverse=True):
            message = message.replace(text, shown)
        return shown, problem, message
