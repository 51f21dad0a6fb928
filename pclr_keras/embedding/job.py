"""The embedding jobs: `embed` (an archive, sharded, resumable, to a file) and
`embed_files` (a few files, in memory). See the package docstring for how they scale."""

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pclr_keras.checks import positive_int
from pclr_keras.embedding.inputs import (
    MULTI_ECG_SUFFIXES, FileInput, TensorizedInput, background)
from pclr_keras.embedding.model import (
    embedding_dim, forward_function, model_digest, model_precision, resolve_model, variant_of)
from pclr_keras.embedding.parts import (
    FORMAT_VERSION, PART_PATTERN, ChunkBuffer, assemble, check_windows, choose_format, finished,
    output_paths, part_digest, write_part)
from pclr_keras.atomic import write_json
from pclr_keras.deidentify import IdentifierPolicy
from pclr_keras.ingest import list_inputs
from pclr_keras.outcome import NoInput
from pclr_keras.preprocess import TOLERATED_FLAT_LEADS, present_leads
from pclr_keras.tensorize import is_tensorized_folder


def check_shard(shard):
    """`(i, n)` as ints, or a `ValueError` unless n >= 1 and 0 <= i < n."""
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
        return check_shard((int(index), int(count)) if sep else None)
    except ValueError:
        raise ValueError(f"--shard must look like i/n with 0 <= i < n (e.g. 0/4), "
                         f"not {text!r}.") from None


def embed(model, sources, out, *, batch_size=64, shard=(0, 1), chunk_size=2048,
          output_format=None, progress=True, variant=None, workers=None,
          reader_options=None, patient_id_field=None, keep_parts=False,
          max_flat_leads=TOLERATED_FLAT_LEADS, windows="first", aggregate="mean",
          identifiers=None, key_file=None, precision=None, leads_present=None, calibration=None):
    """Embeds every ECG of an archive into `out`, streaming, sharded and resumable.

    Args:
        model: a path `load_encoder` reads (ours, ml4h's), an `.onnx` / `.tflite` file (run
            as exported), or a Keras model with an `embed` layer.
        sources: a `pclr tensorize` output folder (has `labels.csv` and `shards/`), or ECG
            files and folders, read by `pclr_keras.io` and preprocessed for the variant.
        out: str or Path. The output file; `<out>.parts/` (work in progress),
            `<out>.errors.csv` and `<out>.summary.json` go beside it.
        batch_size, chunk_size: int. ECGs per forward pass; units per (resumable) part file.
        shard: (i, n). Embed the units (tensorized ECGs, input files) at positions p % n == i.
        output_format, progress, keep_parts, variant: "parquet" or "csv" (default: csv if `out`
            ends with `.csv`); show a progress bar; keep `<out>.parts/`; the variant (default:
            the one the encoder's input shape names).
        workers, reader_options: raw files: reading threads (default: min(4, cores)); a dict
            for the HDF5 / NumPy readers (`fs`, `lead_names`, `units`, `layout`).
        patient_id_field: str or None. Raw files: a metadata field of patient ids, kept as read.
        max_flat_leads: int. Raw files: an ECG with up to this many flat leads is embedded
            (listed in `quality`, "flat:V1"); 0 rejects any (`--strict`).
        windows, aggregate: "first" embeds the first 10 s of each ECG (each row of a
            tensorized folder); "all" every whole 10 s window (as `pclr tensorize --windows all`
            cuts them), one row per ECG (`aggregate="mean"`: the mean representation and the
            count, `windows`) or per window ("none": `ecg_id#wK`, `window`, `start_s`).
        identifiers, key_file: raw files: "remove" (default), "pseudonymize", "keep" (deidentify).
        precision, calibration: `float32`, `bfloat16`, `float16`, `int8`, `auto` or None (a
            path: float32; a model: as it computes), in the part digests; int8 calibrates on
            `calibration` (default `sources`), its guard in the summary (`int8_guard`).
        leads_present: None, or the leads the input holds (`preprocess_ecg`); `leads` column.

    Returns:
        dict (also `<out>.summary.json`): `ecgs_found` (= `embedded` + rejected), `embedded`,
        `rejected` (problem -> count), `out`, `shard`, `variant`, `leads`, `model`, `parts`, ...

    Raises:
        ValueError (bad arguments, failed int8 guard), NoInput (no ECG file), FileNotFoundError.
    """
    job = _Job.checked(out, output_format, shard, batch_size, chunk_size, windows, aggregate,
                       progress, keep_parts)
    policy = IdentifierPolicy.of(identifiers, key_file, patient_id_field)
    listed, found = _list_sources(sources, policy, job.out)
    encoder, description = resolve_model(model, precision, calibration or sources)
    variant = variant_of(encoder, variant)
    leads = present_leads(variant, leads_present)
    data = _open_inputs(listed, found, variant, reader_options, policy, workers,
                        max_flat_leads, windows, leads_present)
    try:
        identity = model_digest(encoder)
        settings = _part_settings(identity, variant, data.unit, reader_options, policy,
                                  max_flat_leads, windows, aggregate, model_precision(encoder),
                                  None if leads == tuple(variant.leads) else leads)
        about = {"model": description, "model_digest": identity, "variant": variant.name,
                 "leads": ",".join(leads), **_guard_of(encoder)}
        return _run(job, data, encoder, settings, about, policy.mode)
    finally:
        data.close()


@dataclasses.dataclass(frozen=True)
class _Job:
    """The checked options of one `embed` call, and when it began (for its throughput)."""

    out: Path
    fmt: str
    shard: tuple
    batch_size: int
    chunk_size: int
    windows: str
    aggregate: str
    progress: bool
    keep_parts: bool
    began: float

    @classmethod
    def checked(cls, out, output_format, shard, batch_size, chunk_size, windows, aggregate,
                progress, keep_parts):
        """The options, or a `ValueError` naming the first one that is not valid."""
        began = time.perf_counter()
        check_windows(windows, aggregate)
        shard = check_shard(shard)
        batch_size = positive_int(batch_size, "batch_size")
        chunk_size = positive_int(chunk_size, "chunk_size")
        fmt = choose_format(Path(out), output_format)
        return cls(Path(out), fmt, shard, batch_size, chunk_size, windows, aggregate, progress,
                   keep_parts, began)


def _run(job, data, encoder, settings, about, identifiers):
    """Computes the parts not done yet and assembles them into the output; a job already
    finished returns its stored summary.

    `about`: the model's entries of the summary (`model`, `model_digest`, `variant`,
    `leads`);
    `identifiers`: the policy's mode, for raw files.
    """
    dim = embedding_dim(encoder)
    plan = _Plan.of(data, job.shard, job.chunk_size, settings, job.out, job.fmt, dim)
    done = finished(job.out, plan.job)
    if done is not None:
        return done
    reused = _embed_chunks(data, encoder, plan, job.out, dim, job.batch_size, job.windows,
                           job.aggregate, job.progress)
    index, count = job.shard
    summary = {
        "out": job.out.name, "errors": output_paths(job.out)[1].name, "format": job.fmt,
        **about, "embedding_dim": dim, "shard": [index, count],
        "inputs": int(data.count), "units_in_shard": int(len(plan.positions)),
        "unit": data.unit, "parts": len(plan.chunks), "parts_reused": reused,
        "job": plan.job, "windows": job.windows,
        "aggregate": job.aggregate if job.windows == "all" else None,
        "identifiers": identifiers if data.unit == "file" else TENSORIZED_IDENTIFIERS,
        "precision": model_precision(encoder),
    }
    return assemble(plan.part_paths, job.out, job.fmt, dim, summary, windows=job.windows,
                    aggregate=job.aggregate, began=job.began, keep_parts=job.keep_parts)


TENSORIZED_IDENTIFIERS = "as tensorized"


def _guard_of(encoder):
    """`{"int8_guard": ...}` for a quantized encoder that carries its guard, else {}."""
    guard = getattr(encoder, "guard", None)
    return {"int8_guard": guard} if guard else {}


def _part_settings(identity, variant, unit, reader_options, policy, max_flat_leads, windows,
                   aggregate, computes_in, leads=None):
    """What every part's digest covers besides its units: a change recomputes the parts.

    Settings added later join only when not at their default, so the digests
    of earlier jobs stay as they were (`leads`: the leads present, when fewer than all).
    """
    settings = [FORMAT_VERSION, identity, variant.name, unit,
                sorted((reader_options or {}).items()), policy.basis(), max_flat_leads]
    if windows == "all":
        settings += [windows, aggregate]
    if computes_in != "float32":
        settings += [computes_in]
    if leads is not None:
        settings += [{"leads": list(leads)}]
    return settings


def _list_sources(sources, policy, out):
    """(the sources as a list, their ECG files as `list_inputs` gives them, or None for a
    tensorized folder), checked before any model loads.

    No file at all: writes the summary saying so, then raises `NoInput`.
    """
    listed = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not listed:
        raise ValueError("embed: no sources given.")
    folders = [s for s in listed if is_tensorized_folder(s)]
    if folders and len(listed) > 1:
        raise ValueError(f"embed: {folders[0]} is a `pclr tensorize` folder; give it alone, "
                         "not with other sources.")
    if folders:
        if policy.mode != "remove" or policy.patient_id_field:
            raise ValueError(f"embed: {folders[0]} is a `pclr tensorize` folder: its ids are "
                             "those tensorize wrote; give the identifier options to "
                             "`pclr tensorize`.")
        return listed, None
    found = list_inputs(listed)
    if not found:
        problem = "no ECG found in the inputs given"  # the summary names no folder
        write_json(output_paths(out)[2], {"out": Path(out).name, "ecgs_found": 0,
                                          "embedded": 0, "rejected": {}, "problem": problem})
        raise NoInput(f"embed: {problem}: no ECG files (.hea, .xml, .dcm, .h5, .npy, ...) in "
                      f"{', '.join(map(str, listed))}.")
    return listed, found


def _open_inputs(listed, found, variant, reader_options, policy, workers, max_flat_leads,
                 windows, leads_present=None):
    """A `TensorizedInput` for a tensorized folder (`found` None), else a `FileInput` over
    the files `found`."""
    if found is None:
        leads = present_leads(variant, leads_present)
        return TensorizedInput(listed[0], variant, windows,
                               None if leads == tuple(variant.leads) else leads)
    return FileInput([path for path, _ in found], variant, reader_options, policy, workers,
                     max_flat_leads, windows, roots=[root for _, root in found],
                     leads_present=leads_present)


def _digest(payload):
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


@dataclasses.dataclass
class _Plan:
    """A shard's units cut into chunks, each with its part file and digest; the job's digest."""

    positions: np.ndarray
    chunks: list
    digests: list
    part_paths: list
    job: str

    @classmethod
    def of(cls, data, shard, chunk_size, settings, out, fmt, dim):
        index, count = shard
        positions = np.arange(index, data.count, count)
        chunks = [positions[i:i + chunk_size] for i in range(0, len(positions), chunk_size)]
        digests = [_digest([settings, data.keys(chunk)]) for chunk in chunks]
        job = _digest([digests, index, count, fmt, dim])
        parts_dir = output_paths(out)[0]
        part_paths = [parts_dir / PART_PATTERN.format(k) for k in range(len(chunks))]
        return cls(positions, chunks, digests, part_paths, job)


def _embed_chunks(data, encoder, plan, out, dim, batch_size, windows, aggregate, progress):
    """Writes every part whose digest does not match yet; returns how many were reused."""
    parts_dir = output_paths(out)[0]
    parts_dir.mkdir(parents=True, exist_ok=True)
    todo = [k for k in range(len(plan.chunks))
            if part_digest(plan.part_paths[k]) != plan.digests[k]]
    work = [(k, plan.chunks[k]) for k in todo]
    forward = forward_function(encoder)
    buffers = {}
    with tqdm(total=len(plan.positions),
              initial=len(plan.positions) - sum(len(c) for _, c in work),
              unit=data.unit, desc="embedding", disable=not progress) as bar:
        for batch in background(lambda stop: data.batches(work, batch_size, stop)):
            buffer = buffers.setdefault(batch.chunk, ChunkBuffer())
            if batch.x is not None:
                buffer.add(batch, forward(batch.x))
            buffer.errors += batch.errors
            buffer.count_identifiers(batch.identifiers)
            bar.update(batch.units)
            if batch.last:
                write_part(plan.part_paths[batch.chunk], plan.digests[batch.chunk], dim,
                           buffers.pop(batch.chunk), windows, aggregate)
    for stale in parts_dir.iterdir():  # temporary files of a killed run, older parts
        if stale not in plan.part_paths:
            stale.unlink()
    return len(plan.chunks) - len(todo)


def format_summary(summary, out=None):
    """The summary `embed` returns, as lines to print.

    The summary names files without their folders (it is written beside the
    output); `out`, the path as the user gave it, is printed instead when given.
    """
    rejected = sum(summary["rejected"].values())
    reasons = ", ".join(f"{k} {v}" for k, v in summary["rejected"].items())
    index, count = summary["shard"]
    lines = [
        f"PCLR representations -> {out or summary['out']}" if summary["embedded"] else
        f"No representations: nothing was written to {out or summary['out']}",
        f"  model            {summary['model']} ({summary['variant']}, "
        f"{summary.get('precision', 'float32')})",
        f"  shard            {index}/{count}: {summary['units_in_shard']} of "
        f"{summary['inputs']} {summary['unit']}s",
        f"  ECGs found       {summary['ecgs_found']}",
        f"  embedded         {summary['embedded']} x {summary['embedding_dim']}",
        f"  rejected         {rejected}" + (f" ({reasons})" if reasons else "") +
        f" -> {output_paths(out)[1] if out else summary['errors']}",
    ]
    guard = summary.get("int8_guard")
    if guard:
        lines.append(f"  int8 guard       lowest cosine to float32 {guard['min_cosine']} over "
                     f"{guard['ecgs']} ECGs ({'passed' if guard['passed'] else 'failed'}, "
                     f"threshold {guard['threshold']})")
    if summary.get("already_complete"):
        lines.append("  (already complete: nothing recomputed)")
    else:
        lines.append(f"  throughput       {summary['ecgs_per_second']} ECGs/s "
                     f"({summary['seconds']:.1f} s; {summary['parts_reused']} of "
                     f"{summary['parts']} parts reused)")
    identifiers = summary.get("identifiers") or {}
    if identifiers.get("identifiers") in ("remove", "pseudonymize", "keep"):
        lines.append(f"  identifiers      {identifiers['identifiers']}")
    if identifiers.get("note"):
        lines.append(f"  note             {identifiers['note']}")
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
    data = FileInput(paths, get_variant(variant), workers=workers,
                     max_flat_leads=max_flat_leads)  # in memory: ids and errors as read
    forward = forward_function(encoder)
    sources, chunks, errors, quality = [], [], [], []
    work = [(0, np.arange(len(paths)))] if paths else []
    with tqdm(total=len(paths), desc="embedding", unit="ECG", disable=not progress) as bar:
        for batch in background(lambda stop: data.batches(work, batch_size, stop)):
            if batch.x is not None:
                chunks.append(forward(batch.x))
                sources += [path if Path(path).suffix.lower() not in MULTI_ECG_SUFFIXES
                            else source for path, source in zip(batch.paths, batch.sources)]
                quality += batch.qualities
            errors += batch.errors
            bar.update(batch.units)
    dim = embedding_dim(encoder)
    embeddings = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return EmbeddingResult(sources, embeddings, errors, quality)
