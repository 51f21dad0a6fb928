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
- "keep": everything as read (and the same age from a birth date), for
  data already inside a protected environment.

In every mode a placeholder patient id (`xxxx`, `0000`, `unknown`, `n/a`,
`none`, blank: `is_placeholder_patient_id`) counts as no patient id, so
ECGs carrying one are never taken for one patient.

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

The package's modules follow those seams: `fields` (what stays, by mode;
ages from birth dates), `pseudonyms` (the key and keyed pseudonyms),
`naming` (files named relative to the data root), `paths` (a path that
spells the patient's id, name or dates is replaced by a digest of the
file's content, in "remove"), `summary` (what was
left out, as counts) and `policy` (`IdentifierPolicy`, one job's rules,
which `pclr_keras.ingest` applies). The names below are its interface.
"""

from pclr_keras.deidentify.fields import (
    IDENTIFYING_FIELDS, MODES, PSEUDONYMIZED_FIELDS, SAFE_FIELDS, age_from, deidentify,
    is_placeholder_patient_id, parse_date)
from pclr_keras.deidentify.naming import relative_ecg_id, shown_path, without_root
from pclr_keras.deidentify.paths import content_id, identifiers_in_path
from pclr_keras.deidentify.policy import IdentifierPolicy
from pclr_keras.deidentify.pseudonyms import (
    KEY_ADVICE, MIN_KEY_BYTES, KeyFileError, pseudonym, pseudonymous_ecg_id, read_key)
from pclr_keras.deidentify.summary import IdentifierSummary

__all__ = [
    "IDENTIFYING_FIELDS", "KEY_ADVICE", "MIN_KEY_BYTES", "MODES", "PSEUDONYMIZED_FIELDS",
    "SAFE_FIELDS", "IdentifierPolicy", "IdentifierSummary", "KeyFileError", "age_from",
    "content_id", "identifiers_in_path",
    "deidentify", "is_placeholder_patient_id", "parse_date", "pseudonym", "pseudonymous_ecg_id", "read_key",
    "relative_ecg_id", "shown_path", "without_root"]
