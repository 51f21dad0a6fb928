"""What the identifier policy took out of a job's outputs: counts by field, never values."""

import collections

from pclr_keras.deidentify.fields import IDENTIFYING_FIELDS


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
        self.paths_hidden = 0

    def add(self, meta, cleaned, patient_id_supplied=False, path_hidden=False):
        """Counts one ECG.

        Fields outside `IDENTIFYING_FIELDS` count as "other": their names
        (WFDB header comments) may themselves be free text.
        `patient_id_supplied`: the user gave this ECG's patient id (a
        manifest column), so removing the file's costs no pair.
        `path_hidden`: its path spelled the patient's id, name or a date, and
        outputs name it by its content's digest instead.
        """
        self.paths_hidden += bool(path_hidden)
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
        summary.paths_hidden = stored.get("paths_hidden", 0)  # stored by earlier versions: none
        return summary

    def merge(self, other):
        self.patient_ids_removed += other.patient_ids_removed
        self.patient_ids_pseudonymized += other.patient_ids_pseudonymized
        self.fields_removed.update(other.fields_removed)
        self.paths_hidden += other.paths_hidden
        return self

    def note(self):
        """The sentences telling the user what was left out and how else it can go: patient
        pairs not formed, paths replaced by digests; or ""."""
        said = []
        if self.patient_ids_removed:
            said.append(f"{self.patient_ids_removed} ECG(s) carried a patient id in their "
                        "file; it was left out of every output, so these ECGs formed no "
                        "patient pairs.")
        if self.paths_hidden:
            said.append(f"{self.paths_hidden} ECG(s) were in files whose path spells the "
                        "patient's id, name or a date; outputs name them by a digest of the "
                        "file's content (file-...) instead.")
        if not said:
            return ""
        return " ".join(said) + (" Pass --pseudonymize KEYFILE for keyed pseudonyms (pairs "
                                 "form, ids stay hidden) or --keep-identifiers to keep ids "
                                 "and paths as read (inside a protected environment only).")

    def as_dict(self):
        return {"identifiers": self.mode,
                "patient_ids_removed": self.patient_ids_removed,
                "patient_ids_pseudonymized": self.patient_ids_pseudonymized,
                "fields_removed": dict(sorted(self.fields_removed.items())),
                "paths_hidden": self.paths_hidden,
                "note": self.note()}
