"""`pclr embed` on Beam: ECG files -> the same Parquet rows and errors report.

    sources -> files -> ECGs (bad ones to the dead-letter output)
            -> RunInference (batched) -> parts keyed by ecg_id (duplicates resolved)
            -> one output file, `<out>.errors.csv`, `<out>.summary.json`

Each ECG is keyed by (file, position in file): when two inputs give the same
`ecg_id`, the first in sorted path order keeps it and the others become
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
from collections import Counter
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from pclr_keras.atomic import write_errors, write_json
from pclr_keras.embedding import (
    PART_PATTERN, _ChunkBuffer, _concatenate, _iter_file, _output_format, _paths,
    _positive, _resolve_model, _variant_of, _write_part, model_digest)
from pclr_keras.pipelines.inference import EncoderModelHandler
from pclr_keras.precision import resolve_precision
from pclr_keras.preprocess import TOLERATED_FLAT_LEADS
from pclr_keras.pipelines.sources import (
    expand_source, is_local, pipeline_options, restore_error, staged)

ERRORS = "errors"


class ReadECGs(beam.DoFn):
    """A file -> ((ecg_id, patient_id, source, file, k, quality), tensor) per ECG it holds.

    Files of many ECGs fan out here. Every ECG that cannot be read or fails
    validation goes to the `errors` output as (source, problem, message).
    """

    def __init__(self, variant, reader_options, patient_id_field, max_flat_leads):
        self.variant = variant
        self.reader_options = dict(reader_options or {})
        self.patient_id_field = patient_id_field
        self.max_flat_leads = max_flat_leads

    def process(self, path):
        with staged(path) as (local, restore):
            k = 0
            for rows, errors in _iter_file(local, self.variant, self.reader_options,
                                           self.patient_id_field, self.max_flat_leads):
                for error in errors:
                    yield beam.pvalue.TaggedOutput(ERRORS, restore_error(error, restore))
                for ecg_id, patient, source, _, tensor, quality, _, _ in rows:
                    yield (restore(ecg_id), patient, restore(source), path, k, quality), tensor
                    k += 1


def part_of(text, parts):
    """A stable part number for an ecg_id or source (the same in every process)."""
    return zlib.crc32(str(text).encode()) % parts


def _canonical(path):
    return os.path.realpath(path) if is_local(path) else path


class WritePart(beam.DoFn):
    """(part, rows and errors) -> that part's Parquet file; yields its path.

    Rows sharing an ecg_id all land in one part: the first in (file, k)
    order is kept, the others become `duplicate` errors.
    """

    def __init__(self, parts_dir, dim):
        self.parts_dir = str(parts_dir)
        self.dim = dim

    def process(self, keyed):
        part, items = keyed
        rows = sorted((item for kind, item in items if kind == "row"),
                      key=lambda row: (row[0][3], row[0][4]))
        buffer = _ChunkBuffer()
        buffer.errors = sorted(item for kind, item in items if kind == ERRORS)
        seen = set()
        for (ecg_id, patient, source, _, _, quality), embedding in rows:
            if ecg_id in seen:
                buffer.errors.append((source, "duplicate", f"{source}: ecg_id {ecg_id!r} was "
                                      "already embedded from an earlier input"))
                continue
            seen.add(ecg_id)
            buffer.ids.append(ecg_id)
            buffer.patients.append(patient)
            buffer.sources.append(source)
            buffer.qualities.append(quality)
            buffer.embeddings.append(embedding[np.newaxis])
        path = Path(self.parts_dir) / PART_PATTERN.format(part)
        _write_part(path, "beam", self.dim, buffer)
        yield str(path)


def _finish(part_paths, files, out, fmt, dim, summary):
    """Single worker: concatenates the parts into `out`; writes errors and summary."""
    out = Path(out)
    parts_dir, errors_path, summary_path = _paths(out)
    part_paths = sorted(Path(p) for p in part_paths)
    embedded, errors = _concatenate(part_paths, out, fmt, dim,
                                    {"pclr_summary": json.dumps(summary)})
    errors.sort()
    write_errors(errors, errors_path)
    summary = dict(
        summary, inputs=files, units_in_shard=files, parts=len(part_paths),
        ecgs_found=embedded + len(errors), embedded=embedded,
        rejected=dict(sorted(Counter(problem for _, problem, _ in errors).items())))
    write_json(summary_path, summary)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return summary


def embed_pipeline(pipeline, model, sources, out, *, variant, dim, fmt, batch_size,
                   chunk_size, reader_options, patient_id_field, max_flat_leads, summary,
                   precision="float32"):
    """Adds the embedding transforms to `pipeline`; see `embed_on_beam`."""
    parts_dir = _paths(out)[0]
    files = (pipeline
             | "Sources" >> beam.Create([str(s) for s in sources])
             | "ListFiles" >> beam.FlatMap(expand_source)
             | "ByRealPath" >> beam.Map(lambda path: (_canonical(path), path))
             | "EachFileOnce" >> beam.CombinePerKey(min)
             | "Files" >> beam.Values()
             | "Spread" >> beam.Reshuffle())
    count = files | "CountFiles" >> beam.combiners.Count.Globally()
    parts = count | "Parts" >> beam.Map(lambda n: max(1, math.ceil(n / chunk_size)))
    ecgs = files | "Read" >> beam.ParDo(
        ReadECGs(variant, reader_options, patient_id_field, max_flat_leads)).with_outputs(ERRORS, main="ecgs")
    embedded = (ecgs.ecgs
                | "Embed" >> RunInference(KeyedModelHandler(
                    EncoderModelHandler(model, batch_size, precision)))
                | "Rows" >> beam.MapTuple(lambda key, result: (key, result.inference)))
    keyed_rows = embedded | "RowPart" >> beam.Map(
        lambda row, n: (part_of(row[0][0], n), ("row", row)), n=beam.pvalue.AsSingleton(parts))
    keyed_errors = ecgs[ERRORS] | "ErrorPart" >> beam.Map(
        lambda error, n: (part_of(error[0], n), (ERRORS, error)), n=beam.pvalue.AsSingleton(parts))
    return ((keyed_rows, keyed_errors)
            | "Together" >> beam.Flatten()
            | "ByPart" >> beam.GroupByKey()
            | "WriteParts" >> beam.ParDo(WritePart(parts_dir, dim))
            | "AllParts" >> beam.combiners.ToList()
            | "Finish" >> beam.Map(_finish, beam.pvalue.AsSingleton(count), str(out), fmt, dim,
                                   summary))


def embed_on_beam(model, sources, out, *, batch_size=64, chunk_size=2048, output_format=None,
                  variant=None, reader_options=None, patient_id_field="patient_id",
                  max_flat_leads=TOLERATED_FLAT_LEADS, windows="first", aggregate="mean",
                  beam_options="", workers=None, precision=None):
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
            max_flat_leads: as `embed`.
        windows, aggregate: only the first 10 s of each ECG is embedded on
            Beam (`windows="first"`); `--windows all` runs with `embed`.
        beam_options: str. Beam pipeline flags (`--runner=FlinkRunner ...`);
            default the DirectRunner, multi-processing, on `workers` processes.
        workers: int or None. DirectRunner processes (default: all cores).
        precision: as `embed` (None: float32); `auto` is resolved here, so
            every worker computes in the precision this machine picks.

    Returns:
        The summary dict also written to `<out>.summary.json`, with the keys
        `pclr_keras.embedding.format_summary` prints.
    """
    began = time.time()
    if windows != "first":
        raise ValueError("--runner beam embeds the first 10 s of each ECG; run --windows all "
                         f"without it (got windows={windows!r}, aggregate={aggregate!r}).")
    batch_size = _positive(batch_size, "batch_size")
    chunk_size = _positive(chunk_size, "chunk_size")
    out = Path(out).absolute()
    fmt = _output_format(out, output_format)
    if not isinstance(model, (str, os.PathLike)):
        raise ValueError("embed on Beam needs the model as a path its workers can load.")
    precision = resolve_precision(precision or "float32")
    encoder, description = _resolve_model(model)
    variant = _variant_of(encoder, variant)
    dim = int(encoder.output.shape[-1])
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not sources:
        raise ValueError("embed: no sources given.")
    parts_dir, _, _ = _paths(out)
    shutil.rmtree(parts_dir, ignore_errors=True)  # a new run replaces, never appends
    parts_dir.mkdir(parents=True)
    summary = {
        "out": str(out), "errors": str(_paths(out)[1]), "format": fmt, "model": description,
        "model_digest": model_digest(encoder), "variant": variant.name, "embedding_dim": dim,
        "shard": [0, 1], "unit": "file",
        "parts_reused": 0, "runner": "beam", "precision": precision}
    del encoder
    options = pipeline_options(beam_options, workers)
    with beam.Pipeline(options=options) as pipeline:
        embed_pipeline(pipeline, str(model), sources, out, variant=variant, dim=dim, fmt=fmt,
                       batch_size=batch_size, chunk_size=chunk_size,
                       reader_options=reader_options, patient_id_field=patient_id_field,
                       max_flat_leads=max_flat_leads, summary=summary, precision=precision)
    summary = json.loads(_paths(out)[2].read_text())
    seconds = time.time() - began  # the pipeline's start-up included
    summary.update(seconds=round(seconds, 3),
                   ecgs_per_second=round(summary["ecgs_found"] / seconds, 2))
    write_json(_paths(out)[2], summary)
    return summary

