"""`pclr tensorize` on Beam: ECG files -> the same shards, labels, index, errors and summary.

    sources -> files -> one sorted plan (shards of `shard_size` files, as
    `pclr tensorize` cuts them) -> each shard read, validated and written by
    a worker -> one worker merges the shards' metadata into labels.csv,
    index.csv, errors.csv and summary.json

The plan and the merge are `pclr_keras.tensorize`'s own, so shard numbering,
the ECG-id rule and the resolution of duplicates (first in input order wins)
are the same; `pclr pretrain` reads the output unchanged. A shard whose
inputs and settings did not change since a previous run is kept.
"""

import dataclasses
import json
from pathlib import Path

import apache_beam as beam

from pclr_keras.pipelines.sources import expand_source, pipeline_options, staged
from pclr_keras.tensorize import (
    TensorizeInput, TensorizeSettings, finish, is_complete, plan_shards, process_shard,
    read_item)

PLAN = "plan"


def read_input(item, settings, identifiers=None):
    """One input -> (rows, errors), as `pclr tensorize` reads it, from wherever it is.

    A remote file is staged under a local root at its place relative to its
    data root, so ids and errors name it as they would a local one.
    """
    with staged(item.path, item.root) as (local, root):
        return read_item(dataclasses.replace(item, path=local, root=root), settings,
                         identifiers)


def write_shard(shard, settings):
    """(path, digest, basis, inputs) -> the shard written (unless already complete); its path."""
    path, digest, basis, inputs = shard
    if not is_complete(path, digest, basis):
        process_shard(path, digest, inputs, settings, read=read_input)
    return str(path)


class Plan(beam.DoFn):
    """All file paths (one list) -> a shard per element, and the plan on the `plan` output."""

    def __init__(self, out_dir, settings, listed, planned_errors, shard_size):
        self.out_dir = out_dir
        self.settings = settings
        self.listed = listed
        self.planned_errors = planned_errors
        self.shard_size = shard_size

    def process(self, paths):
        inputs = [TensorizeInput(path, root=root) for path, root in sorted(paths)]
        inputs += list(self.listed)
        errors, shards, shard_paths, digests, bases = plan_shards(
            inputs, self.out_dir, self.settings, self.planned_errors, self.shard_size)
        yield beam.pvalue.TaggedOutput(PLAN, ([str(p) for p in shard_paths], errors, bases))
        for shard in zip(map(str, shard_paths), digests, bases, shards):
            yield shard


def _finish(written, plan, out_dir, identifiers, leads):
    shard_paths, errors, bases = plan
    missing = sorted(set(shard_paths) - set(written))
    if missing:
        raise RuntimeError(f"tensorize on Beam: shards planned but not written: {missing}")
    return finish(out_dir, [Path(p) for p in shard_paths], errors, bases, identifiers, leads)


def tensorize_on_beam(sources, out_dir, settings=TensorizeSettings(), *, listed=(),
                      planned_errors=(), shard_size=500, beam_options="", workers=None):
    """`pclr_keras.tensorize.tensorize` as a Beam pipeline.

    Args:
        sources: ECG files, folders, globs or Beam `FileSystems` URLs
            (a URL ending in / is walked); their files come first, sorted.
        out_dir: str or Path. Output folder on a file system this process
            and the workers share.
        settings: `TensorizeSettings`.
        listed: `TensorizeInput`s from a manifest (`read_manifest`), after the files.
        planned_errors: error rows found before reading (excluded manifest rows).
        shard_size: int. Input files per shard.
        beam_options: str. Beam pipeline flags (`--runner=FlinkRunner ...`);
            default the DirectRunner, multi-processing, on `workers` processes.
        workers: int or None. DirectRunner processes (default: all cores).

    Returns:
        The summary dict also written to `summary.json`.
    """
    out_dir = Path(out_dir).absolute()
    (out_dir / "shards").mkdir(parents=True, exist_ok=True)
    with beam.Pipeline(options=pipeline_options(beam_options, workers)) as pipeline:
        planned = (pipeline
                   | "Sources" >> beam.Create([str(s) for s in sources])
                   | "ListFiles" >> beam.FlatMap(expand_source)
                   | "AllFiles" >> beam.combiners.ToList()
                   | "Plan" >> beam.ParDo(Plan(str(out_dir), settings, tuple(listed),
                                               tuple(planned_errors), shard_size))
                   .with_outputs(PLAN, main="shards"))
        (planned.shards
         | "Spread" >> beam.Reshuffle()
         | "WriteShards" >> beam.Map(write_shard, settings)
         | "AllShards" >> beam.combiners.ToList()
         | "Merge" >> beam.Map(_finish, beam.pvalue.AsSingleton(planned[PLAN]), str(out_dir),
                               settings.policy.mode, settings.leads))
    return json.loads((out_dir / "summary.json").read_text())
