"""One job's identifier policy: how its outputs name ECGs, patients and files."""

import dataclasses
import hashlib
import os
from pathlib import Path, PurePosixPath

from pclr_keras.deidentify.fields import MODES, deidentify, is_placeholder_patient_id
from pclr_keras.deidentify.naming import relative_ecg_id, shown_path, without_root
from pclr_keras.deidentify.paths import identifiers_in_path
from pclr_keras.deidentify.pseudonyms import pseudonym, pseudonymous_ecg_id, read_key


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
        basis = [self.mode, key, self.patient_id_field]
        # "remove" names a file whose path identifies its patient by its content: outputs of
        # the rule before are not reused
        return basis + ["paths checked"] if self.mode == "remove" else basis

    def identifying_path(self, source, data_root, meta):
        """The fields of `meta` (as read) that the ECG's path spells, when this policy
        would name the ECG by that path ("remove"); else []. See `deidentify.paths`."""
        if self.mode != "remove":
            return []
        return identifiers_in_path(shown_path(source, data_root), meta)

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
        as read, else the file's `patient_id` by mode (left out, pseudonym, kept);
        "" (unknown) for a placeholder id."""
        if not is_placeholder_patient_id(supplied):
            return str(supplied)
        if self.patient_id_field:
            value = meta.get(self.patient_id_field)
            return "" if is_placeholder_patient_id(value) else str(value)
        value = meta.get("patient_id")
        if is_placeholder_patient_id(value) or self.mode == "remove":
            return ""
        return pseudonym(self.key, value) if self.mode == "pseudonymize" else str(value)

    def meta(self, meta):
        """`deidentify` under this policy (an explicit field is the user's: kept)."""
        supplied = (self.patient_id_field,) if self.patient_id_field else ()
        return deidentify(meta, self.mode, key=self.key, supplied=supplied)

    def error(self, row, data_root=None, shown=None):
        """An errors-report row (source, problem, message) with the file named as
        `source` names it: no absolute path, and with "pseudonymize" no file name.

        Without a data root, a relative source is taken as relative to the
        root already (a manifest's path). `shown`: the name that replaces the
        file's everywhere in the row (a path that identifies its patient).
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
        if self.mode != "pseudonymize" and shown is None:
            return named + sep + inner, problem, message
        spelled = {named, str(PurePosixPath(named).with_suffix(""))}
        if shown is not None:  # a reader may name the file alone, without its folders
            spelled |= {PurePosixPath(named).name, PurePosixPath(named).stem}
        else:
            shown = self.ecg_id(None, given=str(PurePosixPath(named).with_suffix("")) +
                                sep + inner)
        for text in sorted(spelled, key=len, reverse=True):
            message = message.replace(text, shown)
        return shown, problem, message
