"""What `embed` reads, as batches of preprocessed ECGs: a tensorized folder's
rows, or ECG files read through `pclr_keras.ingest` by a thread pool, with a
background thread keeping the next batches ready while the encoder runs."""

import collections
import concurrent.futures
import dataclasses
import os
import queue
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pclr_keras.ingest import ecg_starts, read_ecgs, window_id, window_start_s
from pclr_keras.io import HDF5_SUFFIXES, NUMPY_SUFFIXES
from pclr_keras.preprocess import TOLERATED_FLAT_LEADS, zero_absent_leads

# Formats whose files may hold many ECGs: streamed in order, never held whole.
MULTI_ECG_SUFFIXES = HDF5_SUFFIXES + NUMPY_SUFFIXES
_DONE = object()


class ECGRow(NamedTuple):
    """One ECG (or one 10 s window of it) ready for the encoder."""

    ecg_id: str  # `window_id(record_id, window)`
    record_id: str  # the ECG's id, shared by its windows
    patient_id: str
    source: str
    path: str  # the input file as given
    tensor: np.ndarray  # float32 (length, leads)
    quality: str
    window: int
    start_s: float


def file_rows(path, data_root, variant, reader_options=None, policy=None,
              max_flat_leads=TOLERATED_FLAT_LEADS, windows="first", leads_present=None):
    """Reads one input file, one ECG at a time: yields (rows, errors, identifiers).
    Never raises.

    rows: an `ECGRow` per ECG, or with `windows="all"` per whole 10 s window
    (ids `ecg_id`, `ecg_id#w1`, ... as `pclr tensorize` names them). An ECG
    with a window that fails validation is rejected whole: its first error is
    reported and none of its windows embedded, so a mean over windows never
    silently covers part of a recording. Ids, patient ids and errors follow
    `policy` (`pclr_keras.ingest.read_ecgs`), relative to `data_root`;
    identifiers: the ECG's `IdentifierSummary` (None without a policy).
    `leads_present`: None (all the variant's leads required), or the leads the
    file holds; the others are zeros (`pclr_keras.preprocess.preprocess_ecg`).
    """
    name = variant.name
    for ecg in read_ecgs(path, (variant,), windows=windows, reader_options=reader_options,
                         max_flat_leads=max_flat_leads, policy=policy, data_root=data_root,
                         leads_present=leads_present):
        if ecg.errors:
            yield [], ecg.errors[:1], ecg.identifiers
            continue
        yield [ECGRow(window_id(ecg.ecg_id, w.index), ecg.ecg_id, ecg.patient_id, ecg.source,
                      str(path), w.tensors[name], w.quality, w.index, w.start_s)
               for w in ecg.windows], [], ecg.identifiers


def _read_file(*args):
    """All of `file_rows(*args)` at once: (rows, errors, identifiers), for files of one ECG."""
    rows, errors, identifiers = [], [], []
    for found, file_errors, summary in file_rows(*args):
        rows += found
        errors += file_errors
        identifiers.append(summary)
    return rows, errors, identifiers


def file_size(path):
    """Size in bytes, or -1 for a file that is not there (part of a chunk's digest)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


@dataclasses.dataclass
class Batch:
    """ECGs of one chunk, preprocessed, with their ids; or only errors (`x` None)."""

    chunk: int
    x: object  # float32 (b, length, leads) or None
    ids: list
    patients: list
    sources: list
    errors: list
    units: int  # units of work finished with this batch (progress)
    last: bool  # the chunk's last batch
    paths: list = None
    qualities: list = None  # "" or "flat:V1,..." per ECG
    windows: list = None  # window index of each row (0: the first 10 s)
    starts: list = None  # its start in the recording, s
    identifiers: list = None  # `IdentifierSummary` of each ECG read (raw files)

    @classmethod
    def of_rows(cls, chunk, rows, errors=(), units=0, last=False, identifiers=()):
        """A batch of `ECGRow`s."""
        x = np.stack([row.tensor for row in rows]) if rows else None
        return cls(chunk, x, [r.ecg_id for r in rows], [r.patient_id for r in rows],
                   [r.source for r in rows], list(errors), units, last, [r.path for r in rows],
                   [r.quality for r in rows], [r.window for r in rows],
                   [r.start_s for r in rows], [i for i in identifiers if i is not None])


class TensorizedInput:
    """Units are rows of `labels.csv`, or with `windows="all"` ECGs (the rows
    of their windows, `ecg_id`, `ecg_id#w1`, ...); reads are
    `TensorizedECGs.read_ecgs`. With `leads` (the leads present, a subset of
    the variant's), the stored inputs' other leads are zeroed as they are
    read: one tensorized folder serves every reduced-lead set."""

    unit = "ECG"

    def __init__(self, folder, variant, windows="first", leads=None):
        from pclr_keras.training.tensors import TensorizedECGs

        self.variant, self.leads = variant, leads
        self.ecgs = TensorizedECGs(folder, variant=variant.name)
        labels = self.ecgs.labels
        self.ids = labels["ecg_id"].astype(str).to_numpy(object)
        self.patients = labels["patient_id"].fillna("").astype(str).to_numpy(object)
        self.sources, self.qualities = (
            labels[column].astype("string").fillna("").to_numpy(object) if column in labels
            else np.full(len(labels), "", object) for column in ("source", "quality"))
        self.windows = (labels["window"].fillna(0).to_numpy(np.int64) if "window" in labels
                        else np.zeros(len(labels), np.int64))
        rates = labels["fs_original"].to_numpy(float) if "fs_original" in labels else \
            np.full(len(labels), np.nan)
        self.starts = np.where(self.windows > 0, window_start_s(self.windows, rates), 0.0)
        self.table_keys = labels[["shard", "row"]].to_numpy(np.int64)
        rows = np.arange(len(labels))
        if windows == "all":
            self.rows = np.split(rows, ecg_starts(self.windows)[1:]) if len(rows) else []
        else:
            self.rows = [rows[i:i + 1] for i in rows]
        self.count = len(self.rows)

    def rows_of(self, positions):
        """The `labels.csv` rows of the units at `positions`."""
        return np.concatenate([self.rows[p] for p in positions]) if len(positions) else \
            np.zeros(0, np.int64)

    def keys(self, positions):
        """What identifies the units' inputs (part of a chunk's digest)."""
        return [[self.ids[r], *self.table_keys[r].tolist()] for r in self.rows_of(positions)]

    def batches(self, chunks, batch_size, stop):
        for index, positions in chunks:
            for start in range(0, len(positions), batch_size):
                if stop.is_set():
                    return
                units = positions[start:start + batch_size]
                p = self.rows_of(units)
                yield Batch(index, self._read(p), self.ids[p].tolist(),
                            self.patients[p].tolist(), self.sources[p].tolist(), [],
                            len(units), start + batch_size >= len(positions),
                            qualities=self.qualities[p].tolist(),
                            windows=self.windows[p].tolist(), starts=self.starts[p].tolist())

    def _read(self, rows):
        x = self.ecgs.read_ecgs(rows)
        return x if self.leads is None else zero_absent_leads(x, self.variant, self.leads)

    def close(self):
        self.ecgs.close()


class FileInput:
    """Units are ECG files; a thread pool reads and preprocesses ahead, in order.

    `roots`: each file's data root (`ingest.list_inputs`); ids and errors
    follow `policy`; `leads_present` as `file_rows`. Without a policy (in-memory use), they are as read.
    """

    unit = "file"

    def __init__(self, paths, variant, reader_options=None, policy=None, workers=None,
                 max_flat_leads=TOLERATED_FLAT_LEADS, windows="first", roots=None,
                 leads_present=None):
        self.paths = list(paths)
        self.roots = list(roots) if roots is not None else [None] * len(self.paths)
        self.count = len(self.paths)
        self.read_args = (variant, dict(reader_options or {}), policy, max_flat_leads, windows,
                          leads_present)
        self.workers = workers or min(4, os.cpu_count() or 1)

    def keys(self, positions):
        """What identifies the units' inputs (part of a chunk's digest)."""
        return [[str(self.paths[p]), file_size(self.paths[p])] for p in positions]

    def _results(self, pool, order, stop, lookahead):
        """(chunk, last file of the chunk, file finished, rows, errors, identifier
        summaries), in input order.

        Single-ECG files are read `lookahead` files ahead by the pool; a file
        that may hold many ECGs is streamed here, one ECG at a time, when
        its turn comes.
        """
        pending = collections.deque()
        order = iter(order)

        def fill():
            while len(pending) < lookahead:
                item = next(order, None)
                if item is None:
                    return
                chunk, path, root, last = item
                future = None if Path(path).suffix.lower() in MULTI_ECG_SUFFIXES else \
                    pool.submit(_read_file, path, root, *self.read_args)
                pending.append((chunk, last, path, root, future))

        fill()
        while pending and not stop.is_set():
            chunk, last, path, root, future = pending.popleft()
            fill()
            if future is None:
                for rows, errors, identifiers in file_rows(path, root, *self.read_args):
                    yield chunk, False, False, rows, errors, [identifiers]
                    if stop.is_set():
                        return
                yield chunk, last, True, [], [], []
            else:
                yield (chunk, last, True, *future.result())

    def batches(self, chunks, batch_size, stop):
        order = ((chunk, self.paths[p], self.roots[p], k == len(positions) - 1)
                 for chunk, positions in chunks for k, p in enumerate(positions))
        rows, errors, units, identifiers = [], [], 0, []

        def batch(chunk, last):
            nonlocal rows, errors, units, identifiers
            out = Batch.of_rows(chunk, rows, errors, units, last, identifiers)
            rows, errors, units, identifiers = [], [], 0, []
            return out

        lookahead = max(2 * batch_size, 4 * self.workers)
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            for chunk, last, finished, found, file_errors, summaries in self._results(
                    pool, order, stop, lookahead):
                errors += file_errors
                identifiers += summaries
                units += finished
                for row in found:
                    rows.append(row)
                    if len(rows) == batch_size:
                        yield batch(chunk, False)
                if last:
                    yield batch(chunk, True)

    def close(self):
        pass


def background(make_batches, depth=2):
    """Runs a batch generator in a thread, `depth` batches ahead; re-raises its errors."""
    stop = threading.Event()
    slots = queue.Queue(maxsize=depth)

    def put(item):
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def run():
        batches = make_batches(stop)
        try:
            for item in batches:
                put(item)
                if stop.is_set():
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            put(error)
        finally:
            batches.close()

    thread = threading.Thread(target=run, name="pclr-embed-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
