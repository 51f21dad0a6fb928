"""ECG archives -> PCLR representations, streamed, sharded and resumable.

`embed(model, sources, out)` writes one row per ECG (`ecg_id`, `patient_id`,
`source`, `quality`, `embed_000` ... `embed_<d-1>` float32) to Parquet or CSV, and
every input that could not be embedded to `<out>.errors.csv` with its
reason. It reads a `pclr tensorize` output folder, or ECG files and folders
through the readers (`pclr_keras.io`), preprocessed for the variant the
encoder's input shape names.

How it scales:

- *Order and shards.* The units of work are the tensorized ECGs in
  `labels.csv` order, or the input files sorted by path (folders walked; a
  file that holds many ECGs is one unit and its ECGs stay together).
  `shard=(i, n)` keeps the units whose position `p` has `p % n == i`
  (round robin), so n machines running `shard=(0, n)` ... `(n-1, n)` split
  the archive with no overlap and no gap, and equally.
- *Streaming.* A shard's units are cut into chunks of `chunk_size`. A
  background thread reads (and for raw files, a thread pool reads and
  preprocesses) the next batches while the main thread runs the encoder's
  forward pass, so I/O and preprocessing overlap the model. Memory holds the
  model, a few batches of ECGs and one chunk of representations.
- *Resume.* Each chunk is written to `<out>.parts/part-NNNNN.parquet` under a
  temporary name and renamed when complete, with a digest of the model's
  weights, the variant and the chunk's inputs in its metadata (the chunk's
  errors too). A re-run keeps the parts whose digest matches and computes
  the others, so a run killed at any point and started again ends with the
  same output as an uninterrupted one, no row missing or doubled. When every
  part exists they are appended, one at a time, to `out` (written under a
  temporary name, then renamed); `<out>.errors.csv` and
  `<out>.summary.json` follow and the parts are removed. Running the same
  job again after it finished returns the stored summary.

`embed_files` runs the same reading pipeline in memory, for a handful of
files whose representations fit in memory.
"""

import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import queue
import shutil
import threading
import time
import weakref
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pclr_keras.io import (
    HDF5_SUFFIXES, NUMPY_SUFFIXES, ECGReadError, find_ecg_files, iter_records, read_failure,
    record_id)
from pclr_keras.atomic import write_errors, write_json
from pclr_keras.precision import compute_precision, with_precision
from pclr_keras.preprocess import (
    TOLERATED_FLAT_LEADS, ECGValidationError, flat_leads_of, preprocess_ecg, quality_flags)
from pclr_keras.tensorize import record_windows, window_id, window_start_s

FORMAT_VERSION = 2  # 2: the `quality` column
PART_PATTERN = "part-{:05d}.parquet"
ID_COLUMNS = ("ecg_id", "patient_id", "source", "quality")
OUTPUT_FORMATS = ("parquet", "csv")
WINDOWS = ("first", "all")
AGGREGATES = ("mean", "none")
# Formats whose files may hold many ECGs: streamed in order, never held whole.
_MULTI_ECG_SUFFIXES = HDF5_SUFFIXES + NUMPY_SUFFIXES
_DONE = object()


def embedding_columns(dim):
    """Names of the representation columns: `embed_000` ... `embed_<dim-1>`."""
    return [f"embed_{j:03d}" for j in range(dim)]


# -- the model ---------------------------------------------------------------
def _resolve_model(model):
    """(encoder, description): a path goes through `load_encoder`."""
    from pclr_keras.artifacts import encoder_only, load_encoder

    if isinstance(model, (str, os.PathLike)):
        return load_encoder(model), str(model)
    return encoder_only(model), getattr(model, "name", type(model).__name__)


def model_digest(encoder):
    """sha256 of the encoder's input shape and weights: the model's identity."""
    digest = hashlib.sha256(json.dumps(list(encoder.input.shape[1:])).encode())
    for weight in encoder.weights:
        value = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


_FORWARD = weakref.WeakKeyDictionary()


def _forward_function(encoder):
    """A traced inference forward pass over batches of any size (one per encoder).

    One graph for every batch size (the batch dimension is left open), so a
    short last batch does not trace again; kept per encoder, so repeated
    calls in one process trace once.
    """
    try:
        return _FORWARD[encoder]
    except (KeyError, TypeError):
        pass
    import tensorflow as tf

    length, leads = encoder.input.shape[1:]
    spec = tf.TensorSpec([None, length, leads], tf.float32)

    model = weakref.ref(encoder)  # the cache must not keep the encoder alive

    @tf.function(input_signature=[spec])
    def forward(x):
        return model()(x, training=False)

    def run(x):
        return forward(x).numpy()

    try:
        _FORWARD[encoder] = run
    except TypeError:  # not weak-referenceable: trace per call
        pass
    return run


def _variant_of(encoder, variant):
    from pclr_keras.variants import get_variant, variant_for_input_shape

    length, leads = encoder.input.shape[1:]
    if variant is None:
        return variant_for_input_shape(length, leads)
    variant = get_variant(variant)
    if (variant.input_length, variant.num_leads) != (length, leads):
        raise ValueError(f"variant {variant.name!r} reads ({variant.input_length}, "
                         f"{variant.num_leads}); the encoder reads ({length}, {leads}).")
    return variant


# -- inputs ------------------------------------------------------------------
def is_tensorized_folder(path):
    """Whether `path` is a `pclr tensorize` output folder (labels.csv + shards/)."""
    path = Path(path)
    return (path / "labels.csv").is_file() and (path / "shards").is_dir()


def _as_list(sources):
    if isinstance(sources, (str, os.PathLike)):
        return [sources]
    return list(sources)


def _list_files(sources):
    """Files and folders -> ECG files sorted by path, each once."""
    unique, seen = [], set()
    for path in find_ecg_files(sources):
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def _file_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def _digest(payload):
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


class _TensorizedInput:
    """Units are rows of `labels.csv`, or with `windows="all"` ECGs (the rows
    of their windows, `ecg_id`, `ecg_id#w1`, ...); reads are
    `TensorizedECGs.read_ecgs`."""

    unit = "ECG"

    def __init__(self, folder, variant, windows="first"):
        from pclr_keras.data import TensorizedECGs

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
        self._keys = labels[["shard", "row"]].to_numpy(np.int64)
        rows = np.arange(len(labels))
        if windows == "all":
            self.rows = np.split(rows, _ecg_starts(self.windows)[1:]) if len(rows) else []
        else:
            self.rows = [rows[i:i + 1] for i in rows]
        self.count = len(self.rows)

    def _rows(self, positions):
        return np.concatenate([self.rows[p] for p in positions]) if len(positions) else \
            np.zeros(0, np.int64)

    def keys(self, positions):
        return [[self.ids[r], *self._keys[r].tolist()] for r in self._rows(positions)]

    def batches(self, chunks, batch_size, stop):
        for index, positions in chunks:
            for start in range(0, len(positions), batch_size):
                if stop.is_set():
                    return
                units = positions[start:start + batch_size]
                p = self._rows(units)
                yield _Batch(index, self.ecgs.read_ecgs(p), self.ids[p].tolist(),
                             self.patients[p].tolist(), self.sources[p].tolist(), [],
                             len(units), start + batch_size >= len(positions),
                             qualities=self.qualities[p].tolist(),
                             windows=self.windows[p].tolist(), starts=self.starts[p].tolist())

    def close(self):
        self.ecgs.close()


def _iter_file(path, variant, reader_options, patient_id_field, max_flat_leads,
               windows="first"):
    """Reads one input file, one ECG at a time: yields (rows, errors). Never raises.

    rows: (ecg_id, patient_id, source, input path, float32 tensor, quality,
    window, start in s) per ECG, or with `windows="all"` per whole 10 s window
    of each ECG (ids `ecg_id`, `ecg_id#w1`, ... as `pclr tensorize` names them).
    errors: (source, problem, message); the source is the file as given, or
    for an ECG of a many-ECG file, the ECG's `file#...` source.
    """
    try:
        for record in iter_records(path, **reader_options):
            source = str(record.source)
            patient = record.meta.get(patient_id_field) if patient_id_field else None
            patient = "" if patient is None else str(patient)
            try:
                rows = []
                for k, start, signal in record_windows(record, windows):
                    tensor, flat = preprocess_ecg(signal, record.fs, record.lead_names,
                                                  variant=variant, source=source,
                                                  max_flat_leads=max_flat_leads,
                                                  return_flat_leads=True)
                    rows.append((window_id(record_id(source), k), patient, source,
                                 str(path), tensor, quality_flags(flat), k, start))
            except ECGValidationError as error:
                yield [], [(source if "#" in source else str(path), error.problem, str(error))]
                continue
            yield rows, []
    except ECGReadError as error:
        yield [], [(str(path), "unreadable", str(error))]
    except Exception as error:  # noqa: BLE001 - a reader's bug on one odd file stops no job
        yield [], [read_failure(path, error)]


def _read_file(*args):
    """All of `_iter_file(*args)` at once: (rows, errors), for files of one ECG."""
    rows, errors = [], []
    for file_rows, file_errors in _iter_file(*args):
        rows += file_rows
        errors += file_errors
    return rows, errors


class _FileInput:
    """Units are ECG files; a thread pool reads and preprocesses ahead, in order."""

    unit = "file"

    def __init__(self, paths, variant, reader_options=None, patient_id_field="patient_id",
                 workers=None, max_flat_leads=TOLERATED_FLAT_LEADS, windows="first"):
        self.windows = windows
        self.paths = list(paths)
        self.max_flat_leads = max_flat_leads
        self.count = len(self.paths)
        self.variant = variant
        self.reader_options = dict(reader_options or {})
        self.patient_id_field = patient_id_field
        self.workers = workers or min(4, os.cpu_count() or 1)

    def keys(self, positions):
        return [[str(self.paths[p]), _file_size(self.paths[p])] for p in positions]

    def _results(self, pool, order, stop, lookahead):
        """(chunk, last file of the chunk, file finished, rows, errors), in input order.

        Single-ECG files are read `lookahead` files ahead by the pool; a file
        that may hold many ECGs is streamed here, one ECG at a time, when
        its turn comes.
        """
        args = (self.variant, self.reader_options, self.patient_id_field, self.max_flat_leads,
                self.windows)
        pending = collections.deque()
        order = iter(order)

        def fill():
            while len(pending) < lookahead:
                item = next(order, None)
                if item is None:
                    return
                chunk, path, last = item
                future = None if Path(path).suffix.lower() in _MULTI_ECG_SUFFIXES else \
                    pool.submit(_read_file, path, *args)
                pending.append((chunk, last, path, future))

        fill()
        while pending and not stop.is_set():
            chunk, last, path, future = pending.popleft()
            fill()
            if future is None:
                for rows, errors in _iter_file(path, *args):
                    yield chunk, False, False, rows, errors
                    if stop.is_set():
                        return
                yield chunk, last, True, [], []
            else:
                yield (chunk, last, True, *future.result())

    def batches(self, chunks, batch_size, stop):
        order = ((chunk, self.paths[p], k == len(positions) - 1)
                 for chunk, positions in chunks for k, p in enumerate(positions))
        rows, errors, units = [], [], 0

        def batch(chunk, last):
            nonlocal rows, errors, units
            x = np.stack([row[4] for row in rows]) if rows else None
            out = _Batch(chunk, x, [r[0] for r in rows], [r[1] for r in rows],
                         [r[2] for r in rows], errors, units, last, [r[3] for r in rows],
                         [r[5] for r in rows], [r[6] for r in rows], [r[7] for r in rows])
            rows, errors, units = [], [], 0
            return out

        lookahead = max(2 * batch_size, 4 * self.workers)
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            for chunk, last, finished, file_rows, file_errors in self._results(
                    pool, order, stop, lookahead):
                errors += file_errors
                units += finished
                for row in file_rows:
                    rows.append(row)
                    if len(rows) == batch_size:
                        yield batch(chunk, False)
                if last:
                    yield batch(chunk, True)

    def close(self):
        pass


@dataclasses.dataclass
class _Batch:
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


def _background(make_batches, depth=2):
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


# -- outputs -----------------------------------------------------------------
def _paths(out):
    """(parts folder, errors report, summary) beside `out`."""
    out = Path(out)
    return (out.with_name(out.name + ".parts"), out.with_name(out.name + ".errors.csv"),
            out.with_name(out.name + ".summary.json"))


def _window_fields(windows, aggregate):
    """Columns between the ids and the representation, per windows/aggregate."""
    import pyarrow as pa

    if windows == "first":
        return []
    if aggregate == "mean":
        return [("windows", pa.int32())]
    return [("window", pa.int32()), ("start_s", pa.float64())]


def _schema(dim, metadata=None, window_fields=()):
    import pyarrow as pa

    fields = [(name, pa.string()) for name in ID_COLUMNS] + list(window_fields)
    fields += [(name, pa.float32()) for name in embedding_columns(dim)]
    return pa.schema(fields, metadata=metadata)


def _part_digest(path):
    """The digest stored in a complete part, or None."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):  # absent, or not a whole Parquet file
        return None
    value = metadata.get(b"pclr_digest")
    return value.decode() if value else None


def _ecg_starts(windows):
    """Positions where an ECG's rows begin: its windows come in increasing order."""
    windows = np.asarray(windows, np.int64)
    if not len(windows):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate([[True], windows[1:] <= windows[:-1]]))


class _ChunkBuffer:
    """One chunk's rows and errors until its part is written."""

    def __init__(self):
        self.ids, self.patients, self.sources, self.qualities = [], [], [], []
        self.embeddings, self.errors = [], []
        self.windows, self.starts = [], []

    def add(self, batch, embeddings):
        self.ids += batch.ids
        self.patients += batch.patients
        self.sources += batch.sources
        self.qualities += batch.qualities or [""] * len(batch.ids)
        self.windows += batch.windows or [0] * len(batch.ids)
        self.starts += batch.starts or [0.0] * len(batch.ids)
        self.embeddings.append(np.asarray(embeddings, np.float32))

    def averaged(self, embeddings):
        """(ids, patients, sources, qualities, window counts, mean embeddings), one row
        per ECG; its quality lists the leads flat in any of its windows."""
        firsts = _ecg_starts(self.windows).tolist()
        ends = firsts[1:] + [len(self.windows)]
        means = np.stack([embeddings[a:b].mean(axis=0) for a, b in zip(firsts, ends)]) \
            if firsts else np.zeros((0, embeddings.shape[1]))
        qualities = [quality_flags([lead for q in self.qualities[a:b] for lead in flat_leads_of(q)])
                     for a, b in zip(firsts, ends)]
        return ([self.ids[i] for i in firsts], [self.patients[i] for i in firsts],
                [self.sources[i] for i in firsts], qualities,
                [b - a for a, b in zip(firsts, ends)], means.astype(np.float32))


def _write_part(path, digest, dim, buffer, windows="first", aggregate="mean"):
    """Writes one chunk as Parquet under a temporary name, then renames it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    embeddings = np.concatenate(buffer.embeddings) if buffer.embeddings else \
        np.zeros((0, dim), np.float32)
    ids, patients, sources, qualities = (buffer.ids, buffer.patients, buffer.sources,
                                         buffer.qualities)
    extra = []
    if windows == "all" and aggregate == "mean":
        ids, patients, sources, qualities, counts, embeddings = buffer.averaged(embeddings)
        extra = [pa.array(counts, pa.int32())]
    elif windows == "all":
        extra = [pa.array(buffer.windows, pa.int32()), pa.array(buffer.starts, pa.float64())]
    columns = [pa.array(values, pa.string())
               for values in (ids, patients, sources, qualities)] + extra
    columns += [pa.array(column) for column in np.ascontiguousarray(embeddings.T)]
    schema = _schema(dim, {"pclr_digest": digest,
                           "pclr_errors": json.dumps([list(e) for e in buffer.errors])},
                     _window_fields(windows, aggregate))
    table = pa.Table.from_arrays(columns, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _concatenate(part_paths, out, fmt, dim, metadata, window_fields=()):
    """Appends the parts, one at a time, to `out` (temporary name, then renamed).

    An `ecg_id` seen before (two files with the same id, e.g. `a.hea` and
    `a.xml`) keeps its first row; the later ones become `duplicate` errors.

    Returns:
        (rows written, errors of all parts in order).
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    schema = _schema(dim, metadata, window_fields)
    writer = pq.ParquetWriter(tmp, schema) if fmt == "parquet" else \
        pa_csv.CSVWriter(tmp, _schema(dim, window_fields=window_fields))
    seen, errors, written = set(), [], 0
    try:
        for path in part_paths:
            part = pq.ParquetFile(path)
            errors += [tuple(e) for e in json.loads(part.schema_arrow.metadata[b"pclr_errors"])]
            table = part.read()
            keep = []
            for ecg_id, source in zip(table.column("ecg_id").to_pylist(),
                                      table.column("source").to_pylist()):
                keep.append(ecg_id not in seen)
                if ecg_id in seen:
                    errors.append((source, "duplicate", f"{source}: ecg_id {ecg_id!r} was "
                                   "already embedded from an earlier input"))
                seen.add(ecg_id)
            if not all(keep):
                table = table.filter(pa.array(keep))
            writer.write_table(table.replace_schema_metadata(
                schema.metadata if fmt == "parquet" else None))
            written += table.num_rows
    finally:
        writer.close()
    os.replace(tmp, out)
    return written, errors


def _finished(out, job):
    """The stored summary of this very job if it already ran to the end, else None."""
    _, errors_path, summary_path = _paths(out)
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return None
    if summary.get("job") == job and Path(out).exists() and errors_path.exists():
        return dict(summary, already_complete=True)
    return None


def _output_format(out, output_format):
    if output_format is None:
        return "csv" if str(out).lower().endswith(".csv") else "parquet"
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, not {output_format!r}.")
    return output_format


def _check_shard(shard):
    try:
        index, count = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be (i, n), not {shard!r}.") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard (i, n) needs n >= 1 and 0 <= i < n, not {shard!r}.")
    return index, count


def parse_shard(text):
    """`"i/n"` (as `--shard` takes it) -> `(i, n)`."""
    index, sep, count = str(text).partition("/")
    try:
        return _check_shard((int(index), int(count)) if sep else None)
    except ValueError:
        raise ValueError(f"--shard must look like i/n with 0 <= i < n (e.g. 0/4), "
                         f"not {text!r}.") from None


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}.")
    return int(value)


# -- the job -----------------------------------------------------------------
def embed(model, sources, out, *, batch_size=64, shard=(0, 1), chunk_size=2048,
          output_format=None, progress=True, variant=None, workers=None,
          reader_options=None, patient_id_field="patient_id", keep_parts=False,
          max_flat_leads=TOLERATED_FLAT_LEADS, windows="first", aggregate="mean",
          precision=None):
    """Embeds every ECG of an archive into `out`, streaming, sharded and resumable.

    Args:
        model: a path to any encoder artifact `load_encoder` reads (ours,
            ml4h's Keras 2 `.h5` or SavedModel), or a Keras model with an
            `embed` layer.
        sources: a `pclr tensorize` output folder (has `labels.csv` and
            `shards/`), or ECG files and folders (walked for `.hea`, `.xml`,
            HDF5 and NumPy files), read with `pclr_keras.io.iter_records` and
            preprocessed for the encoder's variant.
        out: str or Path. The output file; `<out>.parts/` (work in
            progress), `<out>.errors.csv` and `<out>.summary.json` go beside it.
        batch_size: int. ECGs per forward pass.
        shard: (i, n). Embed only the units (tensorized ECGs, or input files)
            whose position p in the sorted input has p % n == i.
        chunk_size: int. Units per part file: the granularity of resuming.
        output_format: "parquet" or "csv"; default: csv if `out` ends with
            `.csv`, else parquet.
        progress: bool. Show a progress bar.
        variant: str or None. The encoder's variant; default: the one its
            input shape names (`variant_for_input_shape`).
        workers: int or None. Threads reading raw files (default: min(4, cores)).
        reader_options: dict for the HDF5 / NumPy readers (`fs`, `lead_names`,
            `units`, `layout`).
        patient_id_field: str or None. Raw files: the metadata field
            (e.g. a WFDB `#patient_id:` header line) holding the patient id.
        keep_parts: bool. Keep `<out>.parts/` after the output is written.
        max_flat_leads: int. Raw files: an ECG with up to this many flat
            leads is embedded and its flat leads listed in `quality`
            ("flat:V1"); more are rejected. 0 rejects any (`--strict`). A
            tensorized folder carries the `quality` its `labels.csv` has.
        windows: "first" embeds the first 10 s of each ECG (each row of a
            tensorized folder); "all" every whole 10 s window (for raw
            files, as `pclr tensorize --windows all` cuts them; for a
            tensorized folder, its `window` rows of each ECG).
        aggregate: with `windows="all"`: "mean" writes one row per ECG, the
            mean representation over its windows and their count
            (`windows`); "none" one row per window (`ecg_id#wK`, `window`,
            `start_s`).
        precision: `float32`, `bfloat16`, `float16` or `auto` (see
            `pclr_keras.precision`); None: a path in float32, a model as it
            computes. Part digests include it, so a re-run in another
            precision recomputes instead of mixing the two.

    Returns:
        dict: `ecgs_found` (= `embedded` + rejected), `embedded`, `rejected`
        (problem -> count), `out`, `errors`, `shard`, `variant`, `model`,
        `parts`, `parts_reused`, `seconds`, `ecgs_per_second`, ... (also
        written to `<out>.summary.json`).

    Raises:
        ValueError: bad arguments, or no ECG file in `sources`.
        FileNotFoundError: a model path that does not exist.
    """
    began = time.perf_counter()
    if windows not in WINDOWS or aggregate not in AGGREGATES:
        raise ValueError(f"windows must be one of {WINDOWS} and aggregate one of "
                         f"{AGGREGATES}, not {windows!r} and {aggregate!r}.")
    index, count = _check_shard(shard)
    batch_size = _positive(batch_size, "batch_size")
    chunk_size = _positive(chunk_size, "chunk_size")
    out = Path(out)
    fmt = _output_format(out, output_format)
    encoder, description = _resolve_model(model)
    encoder = with_precision(encoder, precision)
    variant = _variant_of(encoder, variant)
    dim = int(encoder.output.shape[-1])
    identity = model_digest(encoder)

    listed = _as_list(sources)
    if not listed:
        raise ValueError("embed: no sources given.")
    folders = [s for s in listed if is_tensorized_folder(s)]
    if folders and len(listed) > 1:
        raise ValueError(f"embed: {folders[0]} is a `pclr tensorize` folder; give it alone, "
                         "not with other sources.")
    if folders:
        data = _TensorizedInput(folders[0], variant, windows)
    else:
        data = _FileInput(_list_files(listed), variant, reader_options, patient_id_field,
                          workers, max_flat_leads, windows)
        if not data.count:
            raise ValueError(f"embed: no ECG files (.hea, .xml, .dcm, .h5, .npy, ...) in "
                             f"{listed}.")
    try:
        positions = np.arange(index, data.count, count)
        chunks = [positions[i:i + chunk_size] for i in range(0, len(positions), chunk_size)]
        settings = [FORMAT_VERSION, identity, variant.name, data.unit,
                    sorted((reader_options or {}).items()), patient_id_field, max_flat_leads]
        if windows == "all":  # the digests of existing "first" jobs stay as they were
            settings += [windows, aggregate]
        if compute_precision(encoder) != "float32":  # float32 digests stay as they were
            settings += [compute_precision(encoder)]
        digests = [_digest([settings, data.keys(chunk)]) for chunk in chunks]
        job = _digest([digests, index, count, fmt, dim])
        done = _finished(out, job)
        if done is not None:
            return done

        parts_dir, errors_path, summary_path = _paths(out)
        parts_dir.mkdir(parents=True, exist_ok=True)
        part_paths = [parts_dir / PART_PATTERN.format(k) for k in range(len(chunks))]
        todo = [k for k in range(len(chunks)) if _part_digest(part_paths[k]) != digests[k]]
        forward = _forward_function(encoder)
        buffers = {}
        work = [(k, chunks[k]) for k in todo]
        with tqdm(total=len(positions), initial=len(positions) - sum(len(c) for _, c in work),
                  unit=data.unit, desc="embedding", disable=not progress) as bar:
            for batch in _background(lambda stop: data.batches(work, batch_size, stop)):
                buffer = buffers.setdefault(batch.chunk, _ChunkBuffer())
                if batch.x is not None:
                    buffer.add(batch, forward(batch.x))
                buffer.errors += batch.errors
                bar.update(batch.units)
                if batch.last:
                    _write_part(part_paths[batch.chunk], digests[batch.chunk], dim,
                                buffers.pop(batch.chunk), windows, aggregate)
        for stale in parts_dir.iterdir():  # temporary files of a killed run, older parts
            if stale not in part_paths:
                stale.unlink()

        seconds = time.perf_counter() - began
        summary = {
            "out": str(out), "errors": str(errors_path), "format": fmt,
            "model": description, "model_digest": identity, "variant": variant.name,
            "embedding_dim": dim, "shard": [index, count],
            "inputs": int(data.count), "units_in_shard": int(len(positions)), "unit": data.unit,
            "parts": len(chunks), "parts_reused": len(chunks) - len(todo), "job": job,
            "windows": windows, "aggregate": aggregate if windows == "all" else None,
            "precision": compute_precision(encoder),
        }
        embedded, errors = _concatenate(part_paths, out, fmt, dim,
                                        {"pclr_summary": json.dumps(summary)},
                                        _window_fields(windows, aggregate))
        write_errors(errors, errors_path)
        seconds = time.perf_counter() - began
        summary.update(
            ecgs_found=embedded + len(errors), embedded=embedded,
            rejected=dict(sorted(Counter(problem for _, problem, _ in errors).items())),
            seconds=round(seconds, 3),
            ecgs_per_second=round((embedded + len(errors)) / seconds, 2) if seconds else None)
        write_json(summary_path, summary)
        if not keep_parts:
            shutil.rmtree(parts_dir, ignore_errors=True)
        return summary
    finally:
        data.close()


def format_summary(summary):
    """The summary `embed` returns, as lines to print."""
    rejected = sum(summary["rejected"].values())
    reasons = ", ".join(f"{k} {v}" for k, v in summary["rejected"].items())
    index, count = summary["shard"]
    lines = [
        f"PCLR representations -> {summary['out']}",
        f"  model            {summary['model']} ({summary['variant']}, "
        f"{summary.get('precision', 'float32')})",
        f"  shard            {index}/{count}: {summary['units_in_shard']} of "
        f"{summary['inputs']} {summary['unit']}s",
        f"  ECGs found       {summary['ecgs_found']}",
        f"  embedded         {summary['embedded']} x {summary['embedding_dim']}",
        f"  rejected         {rejected}" + (f" ({reasons})" if reasons else "") +
        f" -> {summary['errors']}",
    ]
    if summary.get("already_complete"):
        lines.append("  (already complete: nothing recomputed)")
    else:
        lines.append(f"  throughput       {summary['ecgs_per_second']} ECGs/s "
                     f"({summary['seconds']:.1f} s; {summary['parts_reused']} of "
                     f"{summary['parts']} parts reused)")
    return "\n".join(lines)


# -- in memory, for a few files ----------------------------------------------
@dataclasses.dataclass
class EmbeddingResult:
    """Representations of the files that passed, and why the others did not.

    Args:
        sources: list of str, one per row of `embeddings`.
        embeddings: float32 array (n, dim).
        errors: list of (source, problem, message) for each rejected file.
        quality: list of str, one per row: "" or the flat leads ("flat:V1").
    """

    sources: list
    embeddings: np.ndarray
    errors: list
    quality: list = dataclasses.field(default_factory=list)


def embed_files(encoder, paths, variant, batch_size=64, progress=True, workers=None,
                max_flat_leads=TOLERATED_FLAT_LEADS):
    """Reads, preprocesses and embeds ECG files with `encoder`, in memory.

    The same pipeline as `embed` (files read ahead by a thread pool while
    the encoder runs), for a number of files whose representations fit in
    memory; use `embed` for archives.

    Args:
        encoder: a Keras encoder ending at `embed` whose input fits `variant`.
        paths: iterable of ECG files (WFDB records with or without `.hea`, ...).
        variant: str. Variant the ECGs are preprocessed for.
        batch_size: int. ECGs per forward pass.
        progress: bool. Show a progress bar.
        workers: int or None. Reading threads.
        max_flat_leads: int. Flat leads tolerated per ECG (as in `embed`).

    Returns:
        An `EmbeddingResult`; a source is the path as given (for a file of
        many ECGs, the ECG's source, `file#...`).
    """
    from pclr_keras.variants import get_variant

    paths = list(paths)
    data = _FileInput(paths, get_variant(variant), patient_id_field=None, workers=workers,
                      max_flat_leads=max_flat_leads)
    forward = _forward_function(encoder)
    sources, chunks, errors, quality = [], [], [], []
    work = [(0, np.arange(len(paths)))] if paths else []
    with tqdm(total=len(paths), desc="embedding", unit="ECG", disable=not progress) as bar:
        for batch in _background(lambda stop: data.batches(work, batch_size, stop)):
            if batch.x is not None:
                chunks.append(forward(batch.x))
                sources += [path if Path(path).suffix.lower() not in _MULTI_ECG_SUFFIXES
                            else source for path, source in zip(batch.paths, batch.sources)]
                quality += batch.qualities
            errors += batch.errors
            bar.update(batch.units)
    dim = encoder.output.shape[-1]
    embeddings = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return EmbeddingResult(sources, embeddings, errors, quality)
