"""One shard of a tensorized folder: an HDF5 file of preprocessed ECGs and their rows.

A shard is always written whole, under a temporary name, then renamed into
place, so a killed job never leaves half a shard under a shard's name. Its
attributes carry the digest of the inputs and settings it was made from,
its rows' labels, its errors and what the identifier policy left out (as
JSON), so the folder's tables can be rebuilt from the shards alone. When
those tables find duplicates, the shard is rewritten without them, the same
way. Nothing here imports TensorFlow.
"""

import hashlib
import json
import os
from typing import NamedTuple

import h5py
import numpy as np

from pclr_keras import __version__
from pclr_keras.variants import get_variant

_STRING = h5py.string_dtype()
# The per-row string columns a shard stores beside its tensors.
STRING_COLUMNS = ("ecg_id", "patient_id", "source", "quality")


def write_shard(path, digest, rows, errors, variants, identifiers):
    """Writes one shard under a temporary name, then renames it into place.

    `rows`: dicts with the `STRING_COLUMNS`, `window`, `fs_original`,
    `n_samples_original`, `labels` and `tensors` (variant -> array);
    `errors`: error rows; `identifiers`: an `IdentifierSummary`. The first
    of `variants` gives each row's signal digest (duplicates are found by it).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["digest"] = digest
        f.attrs["pclr_keras_version"] = __version__
        for variant in variants:
            spec = get_variant(variant)
            data = np.stack([r["tensors"][variant] for r in rows]) if rows else \
                np.zeros((0, spec.input_length, spec.num_leads), np.float32)
            f.create_dataset(f"ecg/{variant}", data=data,
                             chunks=(1, spec.input_length, spec.num_leads) if rows else None)
        for key in STRING_COLUMNS:
            f.create_dataset(key, data=[r[key] for r in rows], dtype=_STRING)
        f.create_dataset("window", data=np.array([r["window"] for r in rows], np.int32))
        f.create_dataset("fs_original", data=np.array([r["fs_original"] for r in rows]))
        f.create_dataset("n_samples_original",
                         data=np.array([r["n_samples_original"] for r in rows], np.int64))
        f.create_dataset("signal_digest", dtype=_STRING, data=[
            hashlib.sha1(r["tensors"][variants[0]].tobytes()).hexdigest() for r in rows])
        f.attrs["labels_json"] = json.dumps([r["labels"] for r in rows], default=str)
        f.attrs["errors_json"] = json.dumps(errors)
        f.attrs["identifiers_json"] = json.dumps(identifiers.as_dict())
    os.replace(tmp, path)


def is_complete(path, digest, basis):
    """A shard written for these inputs and settings, and, if duplicates were
    dropped from it, dropped against the same earlier shards (`basis`)."""
    try:
        with h5py.File(path, "r") as f:
            return (f.attrs.get("digest") == digest
                    and f.attrs.get("dedup_basis", basis) == basis)
    except (OSError, KeyError):
        return False


class ShardRows(NamedTuple):
    """What the folder's tables take from a shard: everything but its tensors."""

    identifiers: dict  # `IdentifierSummary.as_dict()`
    labels: list  # one dict per row
    errors: list  # (source, problem, message) tuples
    columns: dict  # the `STRING_COLUMNS` and `signal_digest`, one str per row
    window: np.ndarray
    fs_original: np.ndarray
    n_samples_original: np.ndarray


def read_rows(path):
    """The rows of the shard at `path`, as `ShardRows`."""
    with h5py.File(path, "r") as f:
        return ShardRows(
            identifiers=json.loads(f.attrs["identifiers_json"]),
            labels=json.loads(f.attrs["labels_json"]),
            errors=[tuple(e) for e in json.loads(f.attrs["errors_json"])],
            columns={k: f[k].asstr()[()] for k in (*STRING_COLUMNS, "signal_digest")},
            window=f["window"][()], fs_original=f["fs_original"][()],
            n_samples_original=f["n_samples_original"][()])


def drop_rows(path, keep, dropped_errors, basis):
    """Rewrites a shard without the rows `keep` leaves out (temporary name, renamed).

    The dropped rows' errors join the shard's own, so a re-run that keeps the
    shard reports them again; `dedup_basis` ties the shard to the earlier
    shards it was compared with.
    """
    rows = np.flatnonzero(keep).tolist()
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        def copy(name, node):
            if isinstance(node, h5py.Dataset):
                dst.create_dataset(name, data=node[rows] if rows else node[:0], dtype=node.dtype,
                                   chunks=node.chunks if rows else None)

        src.visititems(copy)
        dst.attrs.update(dict(src.attrs))
        labels = json.loads(src.attrs["labels_json"])
        dst.attrs["labels_json"] = json.dumps([labels[i] for i in rows], default=str)
        dst.attrs["errors_json"] = json.dumps(json.loads(src.attrs["errors_json"]) +
                                              [list(e) for e in dropped_errors])
        dst.attrs["dedup_basis"] = basis
    os.replace(tmp, path)
