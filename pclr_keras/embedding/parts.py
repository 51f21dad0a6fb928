"""The output contract of `embed`: part files, then one table, errors report and summary.

Each chunk of work becomes `<out>.parts/part-NNNNN.parquet`, written under a
temporary name and renamed, carrying its digest and its errors in the
Parquet metadata; `assemble` appends the parts to `out` (an `ecg_id` seen
before becomes a `duplicate` error), writes `<out>.errors.csv` and
`<out>.summary.json`, and removes the parts. The local job and the Beam
pipeline both write through here. The leads an ECG held (`--leads`) are the
same for a whole job: the output's `leads` column is added on assembling,
so the parts, and the digests of earlier jobs' parts, stay as they were.
"""

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pclr_keras.atomic import write_errors, write_json
from pclr_keras.deidentify import IdentifierSummary
from pclr_keras.ingest import ecg_starts
from pclr_keras.preprocess import flat_leads_of, quality_flags

FORMAT_VERSION = 2  # 2: the `quality` column
PART_PATTERN = "part-{:05d}.parquet"
ID_COLUMNS = ("ecg_id", "patient_id", "source", "quality")
# The output's id columns: the parts' and the leads present ("I", "I,II,...,V6").
OUTPUT_ID_COLUMNS = ID_COLUMNS + ("leads",)
OUTPUT_FORMATS = ("parquet", "csv")
WINDOWS = ("first", "all")
AGGREGATES = ("mean", "none")


def embedding_columns(dim):
    """Names of the representation columns: `embed_000` ... `embed_<dim-1>`."""
    return [f"embed_{j:03d}" for j in range(dim)]


def check_windows(windows, aggregate):
    """Raises a clear `ValueError` for a `windows` or `aggregate` value not known."""
    if windows not in WINDOWS or aggregate not in AGGREGATES:
        raise ValueError(f"windows must be one of {WINDOWS} and aggregate one of "
                         f"{AGGREGATES}, not {windows!r} and {aggregate!r}.")


def output_paths(out):
    """(parts folder, errors report, summary) beside `out`."""
    out = Path(out)
    return (out.with_name(out.name + ".parts"), out.with_name(out.name + ".errors.csv"),
            out.with_name(out.name + ".summary.json"))


def choose_format(out, requested):
    """"parquet" or "csv": `requested`, or by default csv if `out` ends with `.csv`."""
    if requested is None:
        return "csv" if str(out).lower().endswith(".csv") else "parquet"
    if requested not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, not {requested!r}.")
    return requested


def window_fields(windows, aggregate):
    """Columns between the ids and the representation, per windows/aggregate."""
    import pyarrow as pa

    if windows == "first":
        return []
    if aggregate == "mean":
        return [("windows", pa.int32())]
    return [("window", pa.int32()), ("start_s", pa.float64())]


def _schema(dim, metadata=None, fields=(), ids=ID_COLUMNS):
    import pyarrow as pa

    columns = [(name, pa.string()) for name in ids] + list(fields)
    columns += [(name, pa.float32()) for name in embedding_columns(dim)]
    return pa.schema(columns, metadata=metadata)


def part_digest(path):
    """The digest stored in a complete part, or None."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):  # absent, or not a whole Parquet file
        return None
    value = metadata.get(b"pclr_digest")
    return value.decode() if value else None


class ChunkBuffer:
    """One chunk's rows and errors until its part is written."""

    def __init__(self):
        self.ids, self.patients, self.sources, self.qualities = [], [], [], []
        self.embeddings, self.errors = [], []
        self.windows, self.starts = [], []
        self.identifiers = None  # `IdentifierSummary` of the ECGs read from files

    def count_identifiers(self, summaries):
        """Adds the `IdentifierSummary`s of ECGs read (what the policy left out)."""
        for summary in summaries or ():
            if self.identifiers is None:
                self.identifiers = IdentifierSummary(summary.mode)
            self.identifiers.merge(summary)

    def add(self, batch, embeddings):
        """The rows of an `inputs.Batch` and their representations."""
        self.ids += batch.ids
        self.patients += batch.patients
        self.sources += batch.sources
        self.qualities += batch.qualities or [""] * len(batch.ids)
        self.windows += batch.windows or [0] * len(batch.ids)
        self.starts += batch.starts or [0.0] * len(batch.ids)
        self.embeddings.append(np.asarray(embeddings, np.float32))

    def add_rows(self, rows, embeddings):
        """`inputs.ECGRow`s (their tensors not needed) and their representations."""
        self.ids += [row.ecg_id for row in rows]
        self.patients += [row.patient_id for row in rows]
        self.sources += [row.source for row in rows]
        self.qualities += [row.quality for row in rows]
        self.windows += [row.window for row in rows]
        self.starts += [row.start_s for row in rows]
        self.embeddings.append(np.asarray(embeddings, np.float32).reshape(len(rows), -1))

    def averaged(self, embeddings):
        """(ids, patients, sources, qualities, window counts, mean embeddings), one row
        per ECG; its quality lists the leads flat in any of its windows."""
        firsts = ecg_starts(self.windows).tolist()
        ends = firsts[1:] + [len(self.windows)]
        means = np.stack([embeddings[a:b].mean(axis=0) for a, b in zip(firsts, ends)]) \
            if firsts else np.zeros((0, embeddings.shape[1]))
        qualities = [quality_flags([lead for q in self.qualities[a:b] for lead in flat_leads_of(q)])
                     for a, b in zip(firsts, ends)]
        return ([self.ids[i] for i in firsts], [self.patients[i] for i in firsts],
                [self.sources[i] for i in firsts], qualities,
                [b - a for a, b in zip(firsts, ends)], means.astype(np.float32))


def write_part(path, digest, dim, buffer, windows="first", aggregate="mean"):
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
    metadata = {"pclr_digest": digest,
                "pclr_errors": json.dumps([list(e) for e in buffer.errors])}
    if buffer.identifiers is not None:
        metadata["pclr_identifiers"] = json.dumps(buffer.identifiers.as_dict())
    schema = _schema(dim, metadata, window_fields(windows, aggregate))
    table = pa.Table.from_arrays(columns, schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _concatenate(part_paths, out, fmt, dim, metadata, fields=(), leads=""):
    """Appends the parts, one at a time, to `out` (temporary name, then renamed),
    each row with the job's `leads` present.

    An `ecg_id` seen before (two files with the same id, e.g. `a.hea` and
    `a.xml`) keeps its first row; the later ones become `duplicate` errors.

    Returns:
        (rows written, errors of all parts in order, their `IdentifierSummary`s).
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    schema = _schema(dim, metadata, fields, OUTPUT_ID_COLUMNS)
    writer = pq.ParquetWriter(tmp, schema) if fmt == "parquet" else \
        pa_csv.CSVWriter(tmp, _schema(dim, fields=fields, ids=OUTPUT_ID_COLUMNS))
    seen, errors, written, identifiers = set(), [], 0, []
    try:
        for path in part_paths:
            part = pq.ParquetFile(path)
            stored = part.schema_arrow.metadata
            errors += [tuple(e) for e in json.loads(stored[b"pclr_errors"])]
            if b"pclr_identifiers" in stored:
                identifiers.append(IdentifierSummary.from_dict(
                    json.loads(stored[b"pclr_identifiers"])))
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
            table = table.add_column(len(ID_COLUMNS), pa.field("leads", pa.string()),
                                     pa.array([leads] * table.num_rows, pa.string()))
            writer.write_table(table.replace_schema_metadata(
                schema.metadata if fmt == "parquet" else None))
            written += table.num_rows
    finally:
        writer.close()
    os.replace(tmp, out)
    return written, errors, identifiers


def assemble(part_paths, out, fmt, dim, summary, *, windows="first", aggregate="mean",
             totals=None, sort_errors=False, began=None, keep_parts=False):
    """Parts -> `out` (unless no row was embedded), `<out>.errors.csv` and
    `<out>.summary.json`; returns the summary.

    Args:
        part_paths: the parts, in the order their rows are appended.
        out, fmt, dim: the output file, "parquet" or "csv", the representation size.
        summary: dict. What the job knows before assembling; stored in the
            output's metadata (`pclr_summary`; its `leads`, the leads every
            ECG held, fill the `leads` column) and extended with `totals`,
            the counts (`ecgs_found`, `embedded`, `rejected`) and what the
            identifier policy (its mode in `summary["identifiers"]`) left out.
        windows, aggregate: as `embed`; they decide the columns.
        sort_errors: bool. Sort the errors (their order in the parts is not
            deterministic on Beam).
        began: `time.perf_counter()` at the job's start: adds `seconds` and
            `ecgs_per_second`.
        keep_parts: bool. Keep `<out>.parts/`.
    """
    parts_dir, errors_path, summary_path = output_paths(out)
    embedded, errors, identifiers = _concatenate(part_paths, out, fmt, dim,
                                                 {"pclr_summary": json.dumps(summary)},
                                                 window_fields(windows, aggregate),
                                                 summary["leads"])
    if not embedded:  # nothing produced: no empty table, only the errors and the summary
        Path(out).unlink(missing_ok=True)
    if sort_errors:
        errors.sort()
    write_errors(errors, errors_path)
    left_out = IdentifierSummary(summary.get("identifiers", "remove"))
    for part in identifiers:
        left_out.merge(part)
    summary = dict(summary, **(totals or {}), ecgs_found=embedded + len(errors),
                   embedded=embedded,
                   rejected=dict(sorted(Counter(problem for _, problem, _ in errors).items())),
                   identifiers=left_out.as_dict())
    if began is not None:
        seconds = time.perf_counter() - began
        summary.update(seconds=round(seconds, 3), ecgs_per_second=round(
            summary["ecgs_found"] / seconds, 2) if seconds else None)
    write_json(summary_path, summary)
    if not keep_parts:
        shutil.rmtree(parts_dir, ignore_errors=True)
    return summary


def finished(out, job):
    """The stored summary of this very job if it already ran to the end, else None."""
    _, errors_path, summary_path = output_paths(out)
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return None
    if summary.get("job") == job and Path(out).exists() and errors_path.exists():
        return dict(summary, already_complete=True)
    return None
