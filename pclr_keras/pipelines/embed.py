"""`pclr embed` on Beam: ECG files -> the same Parquet rows and errors report.

    sources -> files -> ECGs or their 10 s windows (bad ones to the dead-letter output)
            -> RunInference (batched) -> parts keyed by the ECG's id
            -> one output file, `<out>.errors.csv`, `<out>.summary.json`

Files are read by `pclr_keras.embedding.inputs.file_rows` and the parts
written and assembled by `pclr_keras.embedding.parts`, as `pclr embed` does.
Each row is ordered by (file, position in file): when two inputs give the
same `ecg_id`, the first in sorted path order keeps it and the others become
`duplicate` errors, as in `pclr embed`. Parts are written whole under a
temporary name; only parts reported by committed bundles are concatenated,
so a retried bundle never doubles a row.
"""

import json
import math
import os
import shutil
import time
import zlib
from pathlib import Path

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from pclr_keras.atomic import write_json
from pclr_keras.checks import positive_int
from pclr_keras.deidentify import IdentifierPolicy, IdentifierSummary
from pclr_keras.embedding.inputs import file_rows
from pclr_keras.embedding.model import (
    embedding_dim, model_digest, model_precision, resolve_model, variant_of)
from pclr_keras.embedding.runtimes import is_runtime_artifact, is_runtime_encoder
from pclr_keras.embedding.parts import (
    PART_PATTERN, ChunkBuffer, assemble, check_windows, choose_format, output_paths, write_part)
from pclr_keras.pipelines.inference import EncoderModelHandler
from pclr_keras.pipelines.sources import expand_source, is_local, pipeline_options, staged
from pclr_keras.precision import resolve_precision
from pclr_keras.preprocess import TOLERATED_FLAT_LEADS, present_leads

ERRORS = "errors"
IDENTIFIERS = "identifiers"


class ReadECGs(beam.DoFn):
    """A (file, data root) -> ((`ECGRow` without its tensor, k), tensor) per ECG (or
    window) it holds.

    Files of many ECGs fan out here; k numbers the rows of one file. Every
    ECG that cannot be read or fails validation goes to the `errors` output
    as (source, problem, message); what the identifier policy left out of
    each ECG, to the `identifiers` output. Ids are named against the data
    root as the local job names them (a remote file is staged at its place).
    """

    def __init__(self, variant, reader_options, policy, max_flat_leads, windows="first",
                 leads_present=None):
        self.read_args = (variant, dict(reader_options or {}), policy, max_flat_leads,
                          windows, leads_present)

    def process(self, item):
        path, root = item
        with staged(path, root) as (local, local_root):
            k = 0
            for rows, errors, identifiers in file_rows(local, local_root, *self.read_args):
                yield beam.pvalue.TaggedOutput(IDENTIFIERS, (path, identifiers.as_dict()))
                for error in errors:
                    yield beam.pvalue.TaggedOutput(ERRORS, error)
                for row in rows:
                    yield (row._replace(path=path, tensor=None), k), row.tensor
                    k += 1


def part_of(text, parts):
    """A stable part number for an ecg_id or source (the same in every process)."""
    return zlib.crc32(str(text).encode()) % parts


def _canonical(path):
    return os.path.realpath(path) if is_local(path) else path


class WritePart(beam.DoFn):
    """(part, rows and errors) -> that part's Parquet file; yields its path.

    All rows of an ECG (its windows, and any other ECG with its id) land in
    one part, in (file, k) order, so the windows of an ECG are averaged
    together and `assemble` keeps the first of two ECGs sharing an id, as
    the local job does.
    """

    def __init__(self, parts_dir, dim, windows="first", aggregate="mean"):
        self.parts_dir = str(parts_dir)
        self.dim = dim
        self.windows = windows
        self.aggregate = aggregate

    def process(self, keyed):
        part, items = keyed
        rows = sorted((item for kind, item in items if kind == "row"),
                      key=lambda row: (row[0][0].path, row[0][1]))
        buffer = ChunkBuffer()
        buffer.errors = sorted(item for kind, item in items if kind == ERRORS)
        buffer.count_identifiers(IdentifierSummary.from_dict(item)
                                 for kind, item in items if kind == IDENTIFIERS)
        if rows:
            buffer.add_rows([key for (key, _), _ in rows],
                            [embedding for _, embedding in rows])
        path = Path(self.parts_dir) / PART_PATTERN.format(part)
        write_part(path, "beam", self.dim, buffer, self.windows, self.aggregate)
        yield str(path)


def _finish(part_paths, files, out, fmt, dim, summary, windows, aggregate):
    """Single worker: assembles the parts into `out`, the errors report and the summary."""
    part_paths = sorted(Path(p) for p in part_paths)
    return assemble(part_paths, out, fmt, dim, summary, windows=windows, aggregate=aggregate,
                    totals=dict(inputs=files, units_in_shard=files, parts=len(part_paths)),
                    sort_errors=True)


def embed_pipeline(pipeline, model, sources, out, *, variant, dim, fmt, batch_size,
                   chunk_size, reader_options, policy, max_flat_leads, summary,
                   windows="first", aggregate="mean", precision="float32",
                   leads_present=None):
    """Adds the embedding transforms to `pipeline`; see `embed_on_beam`."""
    parts_dir = output_paths(out)[0]
    files = (pipeline
             | "Sources" >> beam.Create([str(s) for s in sources])
             | "ListFiles" >> beam.FlatMap(expand_source)
             | "ByRealPath" >> beam.Map(lambda item: (_canonical(item[0]), item))
             | "EachFileOnce" >> beam.CombinePerKey(min)
             | "Files" >> beam.Values()
             | "Spread" >> beam.Reshuffle())
    count = files | "CountFiles" >> beam.combiners.Count.Globally()
    parts = count | "Parts" >> beam.Map(lambda n: max(1, math.ceil(n / chunk_size)))
    ecgs = files | "Read" >> beam.ParDo(
        ReadECGs(variant, reader_options, policy, max_flat_leads, windows, leads_present)
    ).with_outputs(ERRORS, IDENTIFIERS, main="ecgs")
    embedded = (ecgs.ecgs
                | "Embed" >> RunInference(KeyedModelHandler(
                    EncoderModelHandler(model, batch_size, precision)))
                | "Rows" >> beam.MapTuple(lambda key, result: (key, result.inference)))
    keyed_rows = embedded | "RowPart" >> beam.Map(
        lambda row, n: (part_of(row[0][0].record_id, n), ("row", row)),
        n=beam.pvalue.AsSingleton(parts))
    keyed_errors = ecgs[ERRORS] | "ErrorPart" >> beam.Map(
        lambda error, n: (part_of(error[0], n), (ERRORS, error)), n=beam.pvalue.AsSingleton(parts))
    keyed_identifiers = ecgs[IDENTIFIERS] | "IdentifiersPart" >> beam.Map(
        lambda item, n: (part_of(item[0], n), (IDENTIFIERS, item[1])),
        n=beam.pvalue.AsSingleton(parts))
    return ((keyed_rows, keyed_errors, keyed_identifiers)
            | "Together" >> beam.Flatten()
            | "ByPart" >> beam.GroupByKey()
            | "WriteParts" >> beam.ParDo(WritePart(parts_dir, dim, windows, aggregate))
            | "AllParts" >> beam.combiners.ToList()
            | "Finish" >> beam.Map(_finish, beam.pvalue.AsSingleton(count), str(out), fmt, dim,
                                   summary, windows, aggregate))


def embed_on_beam(model, sources, out, *, batch_size=64, chunk_size=2048, output_format=None,
                  variant=None, reader_options=None, patient_id_field=None,
                  max_flat_leads=TOLERATED_FLAT_LEADS, windows="first", aggregate="mean",
                  identifiers=None, key_file=None, beam_options="", workers=None,
                  precision=None, leads_present=None, calibration=None):
    """`pclr_keras.embedding.embed` for ECG files, as a Beam pipeline.

    Args:
        model: str. A path to any encoder artifact `load_encoder` reads (every
            worker loads it: on a cluster, a path all workers see).
        sources: ECG files, folders, globs or Beam `FileSystems` URLs
            (gs://bucket/ecgs/*.hea, s3://...; a URL ending in / is walked).
        out: str or Path. Output file on a file system this process and the
            workers share; `<out>.errors.csv` and `<out>.summary.json` beside it.
        batch_size: int. ECGs per forward pass.
        chunk_size: int. About this many input files per part file.
        output_format, variant, reader_options, patient_id_field,
            max_flat_leads, identifiers, key_file, leads_present: as `embed`.
        windows, aggregate: as `embed` for ECG files: the first 10 s, or
            every whole 10 s window, averaged per ECG or one row per window.
        beam_options: str. Beam pipeline flags (`--runner=FlinkRunner ...`);
            default the DirectRunner, multi-processing, on `workers` processes.
        workers: int or None. DirectRunner processes (default: all cores).
        precision: as `embed` (None: float32), resolved here (`_beam_precision`);
            `calibration` is accepted for one call with the local job.

    Returns:
        The summary dict also written to `<out>.summary.json`, with the keys
        `pclr_keras.embedding.format_summary` prints.
    """
    began = time.time()
    check_windows(windows, aggregate)
    batch_size = positive_int(batch_size, "batch_size")
    chunk_size = positive_int(chunk_size, "chunk_size")
    out = Path(out).absolute()
    fmt = choose_format(out, output_format)
    policy = IdentifierPolicy.of(identifiers, key_file, patient_id_field)
    if not isinstance(model, (str, os.PathLike)):
        raise ValueError("embed on Beam needs the model as a path its workers can load.")
    precision = _beam_precision(model, precision)
    description, digest, variant, dim, facts = _encoder_facts(model, variant)
    leads = present_leads(variant, leads_present)
    sources = _source_list(sources)
    _, errors_path, summary_path = _fresh_output(out)
    summary = {
        "out": Path(out).name, "errors": errors_path.name, "format": fmt, "model": description,
        "model_digest": digest, "variant": variant.name, "embedding_dim": dim,
        "shard": [0, 1], "unit": "file", "parts_reused": 0, "runner": "beam",
        "windows": windows, "aggregate": aggregate if windows == "all" else None,
        "identifiers": policy.mode, "precision": precision, "leads": ",".join(leads), **facts}
    options = pipeline_options(beam_options, workers)
    with beam.Pipeline(options=options) as pipeline:
        embed_pipeline(pipeline, str(model), sources, out, variant=variant, dim=dim, fmt=fmt,
                       batch_size=batch_size, chunk_size=chunk_size,
                       reader_options=reader_options, policy=policy,
                       max_flat_leads=max_flat_leads, summary=summary, windows=windows,
                       aggregate=aggregate, precision=precision, leads_present=leads_present)
    return _with_speed(summary_path, began)


def _beam_precision(model, precision):
    """The precision every worker computes in: `auto` resolved on this machine (never to
    int8, which needs calibrating); an `.onnx` / `.tflite` model as it was exported.

    Raises:
        ValueError: int8 for a Keras model: on Beam it runs from an exported file.
    """
    if is_runtime_artifact(model):
        return "float32"
    if precision == "int8":
        raise ValueError("--runner beam runs int8 from an exported file: `pclr export "
                         "--formats tflite --precision int8 --calibration DATA`, then "
                         "--model NAME_int8.tflite.")
    return resolve_precision(precision or "float32")


def _encoder_facts(model, variant):
    """(description, digest, variant, embedding size, summary facts) of the encoder at
    `model`; the facts of a model run from a file are its precision and int8 guard.

    It is loaded here once for what the summary says of it, then let go:
    every worker loads its own copy.
    """
    encoder, description = resolve_model(model)
    return (description, model_digest(encoder), variant_of(encoder, variant),
            embedding_dim(encoder), _runtime_facts(encoder))


def _runtime_facts(encoder):
    """{"precision", "int8_guard"} of a model run from a file, {} for a Keras one."""
    if not is_runtime_encoder(encoder):
        return {}
    return {"precision": model_precision(encoder),
            **({"int8_guard": encoder.guard} if encoder.guard else {})}


def _source_list(sources):
    """One source or several -> a non-empty list of them."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not sources:
        raise ValueError("embed: no sources given.")
    return sources


def _fresh_output(out):
    """(parts folder, errors path, summary path) of `out`, the parts folder emptied:
    a new run replaces an earlier one's parts, never appends to them."""
    parts_dir, errors_path, summary_path = output_paths(out)
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    return parts_dir, errors_path, summary_path


def _with_speed(summary_path, began):
    """The summary the pipeline wrote, with the run's seconds (the pipeline's start-up
    included) and ECGs per second added."""
    summary = json.loads(summary_path.read_text())
    seconds = time.time() - began
    summary.update(seconds=round(seconds, 3),
                   ecgs_per_second=round(summary["ecgs_found"] / seconds, 2))
    write_json(summary_path, summary)
    return summary
