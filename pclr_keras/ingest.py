"""ECG files -> validated, preprocessed 10 s windows and error rows.

The one reading core of `pclr tensorize`, `pclr embed` and their Beam
pipelines: a file is read with `pclr_keras.io.iter_records`, each ECG cut
into 10 s windows (the first, or every whole one), and each window checked
and preprocessed for one or more encoder variants. Bad data never raises:
it comes back as error rows `(source, problem, message)`, the source being
the ECG as its reader names it (a WFDB record by its name, without `.hea`).

It is also where a file's metadata, path and errors become what outputs
may carry: given an `IdentifierPolicy` and the data root, each ECG comes
with its output id (relative to the root, or a pseudonym), patient id,
metadata and error rows already de-identified, so no consumer handles the
raw values. Nothing here imports TensorFlow: bulk worker processes stay light.
"""

import dataclasses
import os

import numpy as np

from pclr_keras.deidentify import IdentifierSummary, content_id
from pclr_keras.io import ECGReadError, find_ecg_files, iter_records, read_failure, record_id
from pclr_keras.preprocess import (
    TOLERATED_FLAT_LEADS, ECGValidationError, preprocess_ecg, quality_flags)
from pclr_keras.variants import ECG_DURATION_S, get_variant

WINDOWS = ("first", "all")


def list_files(sources):
    """Files and folders -> ECG files sorted by path (folders walked), each real file once."""
    return [path for path, _ in list_inputs(sources)]


def list_inputs(sources):
    """Files and folders -> (ECG file, its data root) sorted by path, each real file once.

    A file's data root is the folder given that holds it (ids are relative
    to it), or the file itself when it was given directly (its name).
    """
    found = sorted(((path, str(source)) for source in sources
                    for path in find_ecg_files([source])), key=lambda item: str(item[0]))
    unique, seen = [], set()
    for path, root in found:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append((path, root))
    return unique


def window_id(ecg_id, window):
    """The id of an ECG's 10 s window: the ECG's own for the first, `ecg_id#wK` after."""
    return f"{ecg_id}#w{window}" if window else str(ecg_id)


def window_start_s(window, fs):
    """Where window `window` (int or array) of a record at `fs` Hz starts, in s."""
    return window * np.round(ECG_DURATION_S * fs) / fs


def record_windows(record, mode):
    """(index, start in s, signal) of each 10 s window to keep: the first, or
    all whole ones (a record shorter than 10 s is one window)."""
    if mode == "first":
        yield 0, 0.0, record.signal
        return
    per_window = int(round(ECG_DURATION_S * record.fs))
    for k in range(max(1, record.signal.shape[0] // per_window)):
        yield (k, float(window_start_s(k, record.fs)),
               record.signal[k * per_window:(k + 1) * per_window])


def ecg_starts(windows):
    """Positions where an ECG's rows begin in a run of window rows (an ECG's windows
    come in increasing order, so a window index not above the previous one starts the next)."""
    windows = np.asarray(windows, np.int64)
    if not len(windows):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate([[True], windows[1:] <= windows[:-1]]))


@dataclasses.dataclass
class Window:
    """One 10 s window that passed validation."""

    index: int  # 0: the first 10 s
    start_s: float  # where it starts in the recording
    tensors: dict  # variant name -> float32 (length, leads)
    quality: str  # "" or the flat leads tolerated ("flat:V1")


@dataclasses.dataclass
class IngestedECG:
    """One ECG of a file: its windows that passed, and an error row per one that did not.

    A file that cannot be read gives one `IngestedECG` with no windows and
    the reason in `errors`.
    """

    source: str  # the ECG as its reader names it (`file#row=...`), as the policy shows it
    ecg_id: str  # the ECG's id; its windows are `window_id(ecg_id, k)`
    meta: dict = dataclasses.field(default_factory=dict)  # what the policy lets out
    patient_id: str = ""
    fs: float = float("nan")
    n_samples: int = 0
    windows: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    identifiers: IdentifierSummary = None  # what the policy left out (with a policy)


def preprocess_for_variants(record, signal, variants, max_flat_leads, leads_present=None):
    """({variant name: tensor}, quality) of one ECG window; raises `ECGValidationError`.

    `leads_present`: as `preprocess_ecg` (None: all the variants' leads required)."""
    tensors, flat = {}, []
    for variant in map(get_variant, variants):
        tensors[variant.name], leads = preprocess_ecg(
            signal, record.fs, record.lead_names, variant=variant, source=str(record.source),
            max_flat_leads=max_flat_leads, return_flat_leads=True,
            leads_present=leads_present)
        flat += leads
    return tensors, quality_flags(flat)


def _ingest(record, variants, windows, max_flat_leads, naming, leads_present):
    source = str(record.source)
    ecg = IngestedECG(source, record_id(source), dict(record.meta), fs=float(record.fs),
                      n_samples=int(record.signal.shape[0]))
    for k, start, signal in record_windows(record, windows):
        try:
            tensors, quality = preprocess_for_variants(record, signal, variants, max_flat_leads,
                                                       leads_present)
        except ECGValidationError as error:
            ecg.errors.append((source, error.problem, str(error)))
            continue
        ecg.windows.append(Window(k, start, tensors, quality))
    return naming(ecg)


def _named(policy, data_root, ecg_id, patient_id, path):
    """The function giving an ingested ECG its output names (identity without a policy).

    A path that spells what the file says of its patient (`1234567_SMITH_...`) is
    replaced by the digest of the file's content (`deidentify.paths.content_id`).
    """
    def naming(ecg):
        if policy is None:
            ecg.ecg_id = ecg.ecg_id if ecg_id in (None, "") else str(ecg_id)
            return ecg
        raw = ecg.meta
        hidden = policy.identifying_path(ecg.source, data_root, raw)
        shown = content_id(path, ecg.source.partition("#")[2]) if hidden else None
        ecg.ecg_id = shown if shown and ecg_id in (None, "") else policy.ecg_id(
            ecg.source, data_root, given=ecg_id)
        ecg.patient_id = policy.patient_id(raw, supplied=patient_id)
        ecg.meta = policy.meta(raw)
        ecg.errors = [policy.error(row, data_root, shown) for row in ecg.errors]
        ecg.source = shown or policy.source(ecg.source, data_root, ecg.ecg_id)
        ecg.identifiers = IdentifierSummary(policy.mode)
        ecg.identifiers.add(raw, ecg.meta, patient_id_supplied=bool(
            patient_id or policy.patient_id_field), path_hidden=bool(hidden))
        return ecg

    return naming


def read_ecgs(path, variants, *, windows="first", reader_options=(),
              max_flat_leads=TOLERATED_FLAT_LEADS, ecg_id=None, policy=None, data_root=None,
              patient_id="", leads_present=None):
    """Reads one file, one ECG at a time: yields an `IngestedECG` per ECG. Never raises
    for bad data.

    Args:
        path: str or Path. Any file `pclr_keras.io.iter_records` reads.
        variants: names (or `EncoderVariant`s) to preprocess every window for.
        windows: "first" (the first 10 s) or "all" (every whole 10 s window;
            a record shorter than 10 s is one window).
        reader_options: dict or (key, value) pairs for the HDF5 / NumPy readers.
        max_flat_leads: int. Flat leads tolerated per window (0: none).
        ecg_id: str or None. The ECG's id given by the user (a manifest's).
        policy: `IdentifierPolicy` or None. With one, ids, patient id,
            metadata, source and errors come as outputs may write them, ids
            relative to `data_root`; without, as read (in-memory use only).
        data_root: the folder the user gave (or the file itself).
        patient_id: str. The patient id the user gave (a manifest's).
        leads_present: None (every lead the variants read is required) or the
            leads the file holds (`preprocess_ecg`): the others are zeros.
    """
    if windows not in WINDOWS:
        raise ValueError(f"windows must be one of {WINDOWS}, not {windows!r}.")
    naming = _named(policy, data_root, ecg_id, patient_id, path)
    try:
        for record in iter_records(path, **dict(reader_options or {})):
            yield _ingest(record, variants, windows, max_flat_leads, naming, leads_present)
    except ECGReadError as error:
        yield naming(IngestedECG(error.source, record_id(error.source),
                                 errors=[(error.source, "unreadable", str(error))]))
    except Exception as error:  # noqa: BLE001 - a reader's bug on one odd file stops no job
        yield naming(IngestedECG(str(path), record_id(path), errors=[read_failure(path, error)]))
