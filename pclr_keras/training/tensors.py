"""A `pclr tensorize` output folder, read lazily: labels, patients, ECG tensors.

h5py checks each shard once (variant, shape, dtype, no compression) and gives
the byte offset of every row; the reads themselves are `os.preadv` of those
bytes into the batch array. They release the GIL and run in parallel, and no
h5py object is touched from tf.data threads, where h5py's global lock
deadlocks the interpreter at exit when a prefetching thread still holds it.
"""

import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from pclr_keras.tensorize import LABELS_FILE, REQUIRED_FILES, SHARDS_FOLDER, shard_path
from pclr_keras.training.plans import PatientGroups


def _patient_ids(patients):
    if isinstance(patients, (str, bytes)):
        raise TypeError("patients must be a collection of patient ids, not one string.")
    ids = set()
    for patient in patients:
        if isinstance(patient, (float, np.floating)) and float(patient).is_integer():
            patient = int(patient)
        ids.add(str(patient))
    return ids


class TensorizedECGs:
    """A `pclr tensorize` output folder: its labels, patients and lazy HDF5 reads.

    Args:
        path: str or Path. The folder `pclr tensorize --out` wrote.
        variant: str. Which tensors to read (`ecg/<variant>` in the shards).
            Defaults to "pclr".
        patients: optional collection of patient ids; only their ECGs are
            kept (e.g. the patients of PTB-XL folds 1-8).
        label_filter: optional str, a pandas query on `labels.csv`; only
            matching ECGs are kept (e.g. `"strat_fold <= 8"`).

    Attributes:
        labels: `pd.DataFrame`, the kept rows of `labels.csv` (ecg_id,
            patient_id, shard, row, label columns), indexed 0..n-1;
            `patient_id` is "" where unknown.
        input_shape: (samples, leads) of the stored tensors.
        pair_patients: sorted list of the patient ids with two kept ECGs or
            more (ECGs without a patient id are never paired).
        groups: `plans.PatientGroups`, the kept ECGs by patient, which the
            batch plans draw from.

    The patient grouping is computed from the kept rows of `labels.csv` (the
    content of `index.csv` after the filters). Every kept row's byte offset
    is found once, with h5py, when the object is made; reads open each shard
    once per process (a plain read-only descriptor) and stay open until
    `close()`.
    """

    def __init__(self, path, variant="pclr", patients=None, label_filter=None):
        self.path = Path(path)
        self.variant = variant
        missing = [name for name in REQUIRED_FILES if not (self.path / name).exists()]
        if missing:
            raise FileNotFoundError(
                f"{self.path} is not a `pclr tensorize` output folder: it has no "
                f"{', '.join(missing)}. Run `pclr tensorize ... --out {self.path}` first.")
        labels = pd.read_csv(self.path / LABELS_FILE, low_memory=False,
                             dtype={"ecg_id": str, "patient_id": str})
        absent = [c for c in ("ecg_id", "patient_id", "shard", "row") if c not in labels]
        if absent:
            raise ValueError(f"{self.path / 'labels.csv'} lacks the columns {absent}; "
                             "is it a `pclr tensorize` output?")
        labels["patient_id"] = labels["patient_id"].fillna("")
        total = len(labels)
        if label_filter:
            try:
                labels = labels.query(label_filter)
            except Exception as error:
                raise ValueError(f"label_filter {label_filter!r} failed on "
                                 f"{self.path / 'labels.csv'}: {error} "
                                 f"(columns: {list(labels)})") from error
        if patients is not None:
            labels = labels[labels["patient_id"].isin(_patient_ids(patients))]
        if not len(labels):
            raise ValueError(f"{self.path}: no ECG left of {total} after the filters "
                             f"(label_filter={label_filter!r}, patients given: "
                             f"{patients is not None}).")
        self.labels = labels.reset_index(drop=True)
        self._rows = self.labels[["shard", "row"]].to_numpy(np.int64)

        shard_ids = np.unique(self._rows[:, 0])
        absent = [self._shard_path(s).name for s in shard_ids if not self._shard_path(s).exists()]
        if absent:
            raise FileNotFoundError(f"{self.path / SHARDS_FOLDER}: labels.csv lists shards "
                                    f"that are not there: {absent[:5]}"
                                    f"{' ...' if len(absent) > 5 else ''}")
        self.input_shape = None
        self._offsets = np.empty(len(self._rows), np.int64)
        by_shard = np.argsort(self._rows[:, 0], kind="stable")
        bounds = np.searchsorted(self._rows[by_shard, 0], shard_ids, side="right")
        for shard, mine in zip(shard_ids.tolist(), np.split(by_shard, bounds[:-1])):
            self._offsets[mine] = self._row_offsets(shard, self._rows[mine, 1])
        self._row_bytes = 4 * int(np.prod(self.input_shape))
        self._row_span = int(self._rows[:, 1].max()) + 1  # [shard, row] -> one sortable key
        keys = self._rows[:, 0] * self._row_span + self._rows[:, 1]
        self._key_order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[self._key_order]
        self._lock = threading.Lock()
        self._pid, self._fds = None, {}
        self.groups = PatientGroups.of(self.labels["patient_id"].to_numpy(str), self._rows)
        self.pair_patients = self.groups.pair_patients

    def __len__(self):
        return len(self.labels)

    @property
    def num_ecgs(self):
        return len(self.labels)

    # -- reading ----------------------------------------------------------
    def _shard_path(self, shard):
        return shard_path(self.path, shard)

    def _row_offsets(self, shard, rows):
        """Byte offsets in the shard file of `ecg/<variant>` rows, checked with h5py."""
        path = self._shard_path(shard)
        key = f"ecg/{self.variant}"
        with h5py.File(path, "r") as handle:
            if key not in handle:
                available = sorted(handle["ecg"].keys()) if "ecg" in handle else []
                raise ValueError(f"{path}: no ECG tensors for variant {self.variant!r}; this "
                                 f"folder was tensorized with variants {available}.")
            dataset = handle[key]
            shape = tuple(int(n) for n in dataset.shape[1:])
            if self.input_shape is None:
                self.input_shape = shape
            elif shape != self.input_shape:
                raise ValueError(f"{path}: {key} holds ECGs of shape {shape}, other shards "
                                 f"{self.input_shape}.")
            if dataset.dtype.str != "<f4" or dataset.id.get_create_plist().get_nfilters():
                raise ValueError(f"{path}: {key} is {dataset.dtype.str} with "
                                 f"{dataset.id.get_create_plist().get_nfilters()} filters; "
                                 "expected uncompressed little-endian float32, as `pclr "
                                 "tensorize` writes.")
            if rows.max(initial=-1) >= dataset.shape[0] or rows.min(initial=0) < 0:
                raise ValueError(f"{path}: labels.csv names rows up to {rows.max()}, the shard "
                                 f"has {dataset.shape[0]}.")
            row_bytes = 4 * int(np.prod(shape))
            if dataset.chunks is None:  # contiguous
                return dataset.id.get_offset() + rows * row_bytes
            if tuple(dataset.chunks[1:]) != shape:
                raise ValueError(f"{path}: {key} is chunked {dataset.chunks}; expected whole "
                                 "ECGs per chunk, as `pclr tensorize` writes.")
            per_chunk = dataset.chunks[0]
            chunk_offset = np.full(-(-dataset.shape[0] // per_chunk), -1, np.int64)

            def note(info):
                chunk_offset[info.chunk_offset[0] // per_chunk] = info.byte_offset

            dataset.id.chunk_iter(note)
        offsets = chunk_offset[rows // per_chunk]
        if (offsets < 0).any():
            raise ValueError(f"{path}: {key} has rows that were never written.")
        return offsets + (rows % per_chunk) * row_bytes

    def _fd(self, shard):
        """A read-only descriptor of a shard file, opened once per process."""
        if self._pid != os.getpid():  # a forked child must not share the parent's table
            with self._lock:
                if self._pid != os.getpid():
                    self._pid, self._fds = os.getpid(), {}
        fd = self._fds.get(shard)
        if fd is None:
            with self._lock:
                fd = self._fds.get(shard)
                if fd is None:
                    fd = self._fds[shard] = os.open(self._shard_path(shard), os.O_RDONLY)
        return fd

    def _read_at(self, shards, offsets):
        out = np.empty((len(offsets), *self.input_shape), np.float32)
        flat = out.reshape(len(offsets), -1).view(np.uint8)
        for i, (shard, offset) in enumerate(zip(shards.tolist(), offsets.tolist())):
            got = os.preadv(self._fd(shard), [flat[i]], offset)
            if got != self._row_bytes:
                raise OSError(f"{self._shard_path(shard)}: short read at byte {offset} "
                              f"({got} of {self._row_bytes}); was the shard changed?")
        return out

    def read(self, shard_rows):
        """ECG tensors at `[shard, row]` pairs.

        Args:
            shard_rows: int array (..., 2) of [shard, row] among the kept ECGs.

        Returns:
            float32 array (..., samples, leads), in mV.
        """
        shard_rows = np.asarray(shard_rows, np.int64)
        if shard_rows.shape[-1:] != (2,):
            raise ValueError(f"shard_rows must have shape (..., 2), not {shard_rows.shape}.")
        flat = shard_rows.reshape(-1, 2)
        wanted = flat[:, 0] * self._row_span + flat[:, 1]
        at = np.minimum(np.searchsorted(self._sorted_keys, wanted), len(self._sorted_keys) - 1)
        found = (self._sorted_keys[at] == wanted) & (flat[:, 1] < self._row_span)
        if not found.all():
            raise KeyError(f"[shard, row] {flat[~found][0].tolist()} is not among the kept ECGs "
                           f"of {self.path}.")
        return self.read_ecgs(self._key_order[at]).reshape(*shard_rows.shape[:-1],
                                                           *self.input_shape)

    def read_ecgs(self, positions):
        """ECG tensors of rows `positions` (int array, any shape) of `labels`."""
        positions = np.asarray(positions, np.int64)
        flat = positions.reshape(-1)
        out = self._read_at(self._rows[flat, 0], self._offsets[flat])
        return out.reshape(*positions.shape, *self.input_shape)

    def close(self):
        """Closes the shard files this process opened (reads reopen them)."""
        with self._lock:
            if self._pid == os.getpid():
                for fd in self._fds.values():
                    os.close(fd)
            self._fds = {}

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_lock=None, _pid=None, _fds={})
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self):
        return (f"TensorizedECGs({str(self.path)!r}, variant={self.variant!r}: {len(self)} ECGs "
                f"of shape {self.input_shape}, {len(self.pair_patients)} patients with >= 2)")
