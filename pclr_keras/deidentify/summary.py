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
