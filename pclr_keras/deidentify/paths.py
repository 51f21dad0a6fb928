"""Whether a file's path names the person its reader found inside it, and the id that
replaces such a path.

Exports are often named after the patient: `1234567_SMITH_20230412.xml`, a
folder per patient, a date-stamped name. An output that names ECGs by their
path would publish what the policy keeps out of the metadata. The reader
tells which values identify this person (patient id, name, birth date,
acquisition date and time); they are looked for in the path in the
spellings file names use, each bounded so that a short id does not match
inside a longer number. Such a file is named by a digest of its content
instead: the same bytes give the same id on every run, so resuming works.
"""

import datetime
import hashlib
import re

from pclr_keras.deidentify.fields import is_placeholder_patient_id, parse_date

# Values whose whole text identifies the person (too short a value would match anywhere).
# Not the file's own ECG id: a public set names its files by it (SPH00001.h5), and the
# acquisition time some ids embed is looked for as a date and time.
_WHOLE_VALUE_FIELDS = ("patient_id", "other_patient_ids", "accession_number")
_MIN_ID_LENGTH = 4
_NAME_FIELDS = ("patient_name",)
_DATE_FIELDS = ("date_of_birth", "acquisition_date", "acquisition_time", "date")
# The date spellings of file names: 20230412, 2023-04-12, 12042023, 04122023, 12.04.2023, ...
_DATE_SPELLINGS = ("%Y%m%d", "%Y-%m-%d", "%Y_%m_%d", "%Y.%m.%d", "%d%m%Y", "%m%d%Y",
                   "%d-%m-%Y", "%m-%d-%Y", "%d_%m_%Y", "%m_%d_%Y", "%d.%m.%Y")
_TIME_SPELLINGS = ("%H%M%S", "%H-%M-%S", "%H_%M_%S", "%H.%M.%S")
_TIME = re.compile(r"(?:\d{8}T?)?(\d{2}):?(\d{2}):?(\d{2})(?:\.\d+)?")
# A date starts after no digit; a time, too, or right after a date (20230412093015).
_AFTER_NO_DIGIT = r"(?<!\d)"
_AFTER_DATE = r"(?:(?<!\d)|(?<=\d{8})|(?<=\d{8}T))"
OPAQUE_PREFIX = "file-"


def identifiers_in_path(path, meta):
    """The identifying fields of `meta` whose value the path spells, sorted (empty: none).

    Args:
        path: str. The file as an output would name it (relative to the data root).
        meta: dict. The reader's metadata of the ECG, before the policy.
    """
    text = str(path).lower()
    return sorted(field for field, patterns in _patterns(meta).items()
                  if any(pattern.search(text) for pattern in patterns))


def _patterns(meta):
    """field -> the regular expressions of its value's spellings."""
    patterns = {}
    for field in _WHOLE_VALUE_FIELDS:
        value = str(meta.get(field) or "").strip()
        if len(value) >= _MIN_ID_LENGTH and not is_placeholder_patient_id(value):
            patterns[field] = [_bounded(value)]
    for field in _NAME_FIELDS:
        parts = [p for p in re.split(r"[^\w]+|_", str(meta.get(field) or "")) if len(p) >= 2]
        if parts:
            patterns[field] = [_bounded(part) for part in parts]
    for field in _DATE_FIELDS:
        spellings = [_AFTER_NO_DIGIT + re.escape(s) for s in _date_spellings(meta.get(field))]
        spellings += [_AFTER_DATE + re.escape(s) for s in _time_spellings(meta.get(field))]
        if spellings:
            patterns[field] = list(map(re.compile, spellings))
    return patterns


def _bounded(value):
    """`value` (case-insensitive) not inside a longer run of digits or of letters."""
    value = value.lower()
    before = r"(?<!\d)" if value[0].isdigit() else r"(?<![a-z])"
    after = r"(?!\d)" if value[-1].isdigit() else r"(?![a-z])"
    return re.compile(before + re.escape(value) + after)


def _date_spellings(value):
    date = parse_date(value)
    return [date.strftime(spelling) for spelling in _DATE_SPELLINGS] if date else []


def _time_spellings(value):
    found = _TIME.fullmatch(str(value or "").strip())
    if not found:
        return []
    try:
        time = datetime.time(*map(int, found.groups()))
    except ValueError:
        return []
    return [time.strftime(spelling) for spelling in _TIME_SPELLINGS]


def content_id(path, inner=""):
    """`file-` and 20 hex digits of the SHA-256 of the file's bytes (and of the part of a
    many-ECG file after "#"): an id that names no one and is the same on every run."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if inner:
        digest.update(b"#" + str(inner).encode())
    return OPAQUE_PREFIX + digest.hexdigest()[:20]
