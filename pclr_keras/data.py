"""`pclr tensorize` output -> tf.data pipelines for pretraining and baselines.

The pipelines are split in two halves:

- a *plan*, pure numpy, that says which ECGs (rows of `labels.csv`) make
  every global step. It is a function of `(seed, epoch, batch)` only, so a
  run resumed at `start_step` computes the plan of that step directly and
  reads no ECG it skips;
- the *reads*: the plan's index batches are read from the HDF5 shards inside
  `tf.numpy_function`, in a parallel, order-keeping `Dataset.map`, then
  prefetched. h5py checks each shard once (variant, shape, dtype, no
  compression) and gives the byte offset of every row; the reads themselves
  are `os.preadv` of those bytes into the batch array. They release the GIL
  and run in parallel, and no h5py object is touched from tf.data threads,
  where h5py's global lock deadlocks the interpreter at exit when a
  prefetching thread still holds it.

Pretraining objectives (`pretraining_dataset`), each yielding `(view1, view2)`:

- ``pclr``: each epoch draws a permutation of the patients with two ECGs or
  more (numpy Generator seeded by `(seed, epoch)`), cut into global batches
  of distinct patients (the remainder is dropped); each patient of a batch
  gives two *different* ECGs drawn at random (seeded by
  `(seed, epoch, batch)`). The views are the two ECGs. Optionally
  (`extra_negatives`), ECGs of patients with a single ECG, drawn per step
  (seeded by `(seed, step)`), come as a third element: negatives only. Or
  (`single_ecg_pairs`), ECGs of such patients drawn the same way join the
  batch as pairs of their own: two random augmentations of the one ECG,
  after the patient pairs in both views.
- ``simclr``: both views are two random augmentations (`augment.py`) of the
  same ECG. An epoch reads every ECG once; within a global batch patients are
  distinct (ECGs without a patient id count as their own patient): the ECGs,
  grouped by patient in a random patient order, are dealt to the batches in
  turn, so a patient's ECGs land in different batches (guaranteed while no
  patient has more ECGs than there are steps per epoch).
- ``clocs``: the "contrastive multi-segment coding" of CLOCS (Kiyasseh et
  al. 2021) on one recording: view1 is the first half in time with the
  second half zeroed, view2 the second half with the first half zeroed, so
  both keep the 10 s time scale the encoder expects. Batches are made as for
  simclr.

Any objective can mask leads (`lead_mask`): after augmentation, each view of
each ECG keeps, with that probability, one lead set real devices record (its
own draw, `augment.mask_leads`), the other leads zero, so the encoder learns
to place a patient's lead-I recording where that patient's 12-lead one is.

With a `tf.distribute.InputContext`, pipeline `i` of `n` serves its
`k = num_replicas_in_sync // n` replicas: for every global step it yields k
per-replica batches in order, replica j getting rows
`[(i*k + j)*r, (i*k + j + 1)*r)` of the global batch (r: per-replica batch).
The replicas of a step together see exactly the global batch one replica
would see.
"""

import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import tensorflow as tf

from pclr_keras.augment import (MASKED_LEAD_SETS, AugmentConfig, augment_batch, lead_set_masks,
                                mask_leads)
from pclr_keras.checks import positive_int
from pclr_keras.tensorize import LABELS_FILE, REQUIRED_FILES, SHARDS_FOLDER, shard_path
from pclr_keras.variants import get_variant

PRETRAINING_OBJECTIVES = ("pclr", "simclr", "clocs")
_SINGLES_STREAM = 1  # keeps the one-ECG patients' random stream apart from the pairs'


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
            raise FileNotFoundError(f"{self.path / SHARDS_FOLDER}: labels.csv lists shards that are "
                                    f"not there: {absent[:5]}{' ...' if len(absent) > 5 else ''}")
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
        self._group_patients()

    # -- patients ---------------------------------------------------------
    def _group_patients(self):
        patient = self.labels["patient_id"].to_numpy(str)
        order = np.lexsort((self._rows[:, 1], self._rows[:, 0], patient))
        sorted_ids = patient[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        counts = np.diff(np.r_[starts, len(order)])
        ids = sorted_ids[starts]
        pair = (counts >= 2) & (ids != "")
        self.pair_patients = ids[pair].tolist()
        self._pair_order = order  # labels positions, grouped by patient
        self._pair_start, self._pair_count = starts[pair], counts[pair]
        # ECGs of patients known to have one ECG: safe negatives, never a false one.
        single = (counts == 1) & (ids != "")
        self._single_positions = np.sort(order[starts[single]])
        # Units for one-ECG-per-patient batches: a patient, or an ECG without one.
        unit_of_sorted = np.cumsum(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) - 1
        unknown = sorted_ids == ""
        unit_of_sorted[unknown] = unit_of_sorted.max() + 1 + np.arange(unknown.sum())
        self._unit = np.empty(len(order), np.int64)
        self._unit[order] = unit_of_sorted
        self._num_units = int(self._unit.max()) + 1

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

    # -- plans (pure numpy; labels positions) ---------------------------
    def _pair_epoch(self, seed, epoch, global_batch_size):
        """(steps, batch) pair-patient indices of one pclr epoch."""
        order = np.random.default_rng([seed, epoch]).permutation(len(self.pair_patients))
        steps = len(order) // global_batch_size
        return order[:steps * global_batch_size].reshape(steps, global_batch_size)

    def _pair_batch(self, seed, epoch, batch, patients):
        """Two different random ECGs of each patient: labels positions (2, batch)."""
        rng = np.random.default_rng([seed, epoch, batch])
        count = self._pair_count[patients]
        first = rng.integers(0, count)
        second = rng.integers(0, count - 1)
        second += second >= first
        start = self._pair_start[patients]
        return np.stack([self._pair_order[start + first], self._pair_order[start + second]])

    def _single_batch(self, seed, step, count):
        """`count` distinct ECGs of one-ECG patients for a step: labels positions (1, count)."""
        rng = np.random.default_rng([seed, step, _SINGLES_STREAM])
        return self._single_positions[rng.choice(len(self._single_positions), count,
                                                 replace=False)][None]

    def _unit_epoch(self, seed, epoch, global_batch_size):
        """(steps, batch) labels positions: every ECG once, distinct patients per batch."""
        rng = np.random.default_rng([seed, epoch])
        unit_rank = rng.permutation(self._num_units)
        order = np.lexsort((rng.random(len(self)), unit_rank[self._unit]))
        steps = len(order) // global_batch_size
        # deal the patient-grouped ECGs to the batches in turn
        return order[:steps * global_batch_size].reshape(global_batch_size, steps).T

    def _shuffled_epoch(self, seed, epoch, batch_size):
        order = np.random.default_rng([seed, epoch]).permutation(len(self))
        steps = len(order) // batch_size
        return order[:steps * batch_size].reshape(steps, batch_size)


def steps_per_epoch(ecgs, global_batch_size, objective="pclr"):
    """Global steps in one epoch: pclr patients (or, for other objectives, ECGs) // batch.

    Raises:
        ValueError: if not one global batch fits, saying how many patients
            (ECGs) there are and the largest batch that works.
    """
    global_batch_size = positive_int(global_batch_size, "global_batch_size")
    if objective == "pclr":
        count, what = len(ecgs.pair_patients), "patients with >= 2 ECGs"
    else:
        count, what = len(ecgs), "ECGs"
    steps = count // global_batch_size
    if steps == 0:
        hint = (f"the largest global batch that works is {count}" if count
                else "there is nothing to pair" if objective == "pclr" else "there is nothing")
        raise ValueError(f"{ecgs.path} (after filters) has {count} {what}, fewer than one "
                         f"global batch of {global_batch_size} for {objective!r}; {hint}.")
    return steps


def check_one_ecg_patients(ecgs, objective="pclr", extra_negatives=0, single_ecg_pairs=0):
    """How many one-ECG patients a step draws, or a ValueError if that cannot be done.

    They are either extra negatives or single-ECG pairs: one kind per run,
    for the pclr objective, and no more than the data has.
    """
    extra_negatives, single_ecg_pairs = int(extra_negatives), int(single_ecg_pairs)
    if extra_negatives and single_ecg_pairs:
        raise ValueError("one-ECG patients join a step either as extra negatives or as "
                         "single-ECG pairs, not both; choose one.")
    count = extra_negatives or single_ecg_pairs
    what = "extra negatives" if extra_negatives else "single-ECG pairs"
    if count and objective != "pclr":
        raise ValueError(f"{what} are for the pclr objective, not {objective!r}.")
    if count and count > len(ecgs._single_positions):
        raise ValueError(f"{ecgs.path} (after filters) has {len(ecgs._single_positions)} ECGs of "
                         f"patients with a single ECG, fewer than {count} {what} per step.")
    return count


def _replica_slices(global_batch_size, input_context):
    """This pipeline's (start, stop) rows of the global batch, one per local replica."""
    if input_context is None:
        return global_batch_size, [(0, global_batch_size)]
    per_replica = input_context.get_per_replica_batch_size(global_batch_size)
    local = input_context.num_replicas_in_sync // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * local
    return per_replica, [((first + j) * per_replica, (first + j + 1) * per_replica)
                         for j in range(local)]


def _plan_dataset(epoch_plan, batch_plan, steps, start_step, slices, views, per_replica):
    """Dataset of (labels positions (views, r), global step, first row in the global batch)."""

    def generate():
        step, epoch, table = start_step, None, None
        while True:
            e, b = divmod(step, steps)
            if e != epoch:
                epoch, table = e, epoch_plan(e)
            positions = batch_plan(e, b, table[b])
            for lo, hi in slices:
                yield positions[:, lo:hi], step, lo
            step += 1

    return tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((views, per_replica), tf.int64), tf.TensorSpec((), tf.int64),
        tf.TensorSpec((), tf.int64)))


def _singles_plan(ecgs, seed, count, start_step, slices, per_replica):
    """Dataset of (labels positions (1, r) of one-ECG patients, first row), per step and replica."""

    def generate():
        step = start_step
        while True:
            positions = ecgs._single_batch(seed, step, count)
            for lo, hi in slices:
                yield positions[:, lo:hi], lo
            step += 1

    return tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((1, per_replica), tf.int64), tf.TensorSpec((), tf.int64)))


def _read_map(ecgs, positions, shape):
    x = tf.numpy_function(ecgs.read_ecgs, [positions], tf.float32, stateful=False)
    return tf.ensure_shape(x, shape)


def _options(dataset):
    options = tf.data.Options()
    options.deterministic = True
    # replicas are served by the plan itself: tf.distribute must not shard again
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def _augmenter(augment, objective):
    if augment is None:
        augment = AugmentConfig() if objective == "simclr" else False
    if augment is False:
        return None
    if isinstance(augment, AugmentConfig):
        config = augment
        return lambda x, seeds: augment_batch(x, seeds, config)
    if callable(augment):
        return augment
    raise TypeError("augment must be None, False, an AugmentConfig or a callable "
                    f"(x, seeds) -> x, not {augment!r}.")


def _with_lead_mask(apply, probability, lead_sets, variant):
    """`apply`, then `mask_leads` with `probability` (0: `apply` unchanged)."""
    if not probability:
        return apply
    masks = lead_set_masks(lead_sets, get_variant(variant).leads)

    def masked(x, seeds):
        return mask_leads(apply(x, seeds) if apply else x, seeds, probability, masks)

    return masked


def _augmented(apply, x, seed, step, first, width, view, one_ecg=False):
    """`apply(x, seeds)`, each ECG's seed from (seed, step, row in the global batch, view).

    One-ECG patients' rows (`one_ecg`) count in a stream of their own, so
    their augmentations never repeat those of the patient pairs.
    """
    if apply is None:
        return x
    rows = tf.shape(x, out_type=tf.int64)[0]
    counter = (step * width + tf.range(rows, dtype=tf.int64) + first) * 2 + view
    if one_ecg:
        counter = -1 - counter
    seeds = tf.stack([tf.fill([rows], tf.constant(seed, tf.int64)), counter], axis=1)
    return tf.ensure_shape(apply(x, seeds), x.shape)


def pretraining_dataset(ecgs, global_batch_size, *, objective="pclr", seed=0, start_step=0,
                        input_context=None, augment=None, extra_negatives=0,
                        single_ecg_pairs=0, lead_mask=0.0, lead_sets=MASKED_LEAD_SETS):
    """Infinite `(view1, view2)` batches for a contrastive objective.

    Args:
        ecgs: `TensorizedECGs`.
        global_batch_size: int. Patients (pclr) or ECGs per global step.
        objective: "pclr", "simclr" or "clocs" (see the module docstring).
        seed: int >= 0. Decides the whole sequence of batches (and
            augmentations). Defaults to 0.
        start_step: int. Global step the dataset starts at (epoch =
            start_step // steps_per_epoch); a run resumed at step s sees the
            data an uninterrupted run sees from step s. Defaults to 0.
        input_context: optional `tf.distribute.InputContext`; then this
            pipeline yields, for each global step, the per-replica batches of
            its replicas in order.
        augment: None (simclr: `AugmentConfig()`; pclr, clocs: none), False
            (none), an `AugmentConfig`, or a callable `(x, seeds) -> x` with
            seeds (batch, 2) int64, one per ECG. Applied to each view (clocs:
            to the recording, before the halves are zeroed); every ECG's seed
            derives from `(seed, step, row in the global batch, view)`, so
            replica splits augment as one replica does.
        extra_negatives: int. pclr only: this many ECGs of patients with a
            single ECG join every global step as negatives only (drawn
            without replacement, seeded by `(seed, step)`, never augmented),
            split across replicas like the batch. Defaults to 0.
        single_ecg_pairs: int. pclr only, instead of `extra_negatives`:
            this many ECGs of patients with a single ECG (drawn the same way)
            each give a pair of two augmentations of themselves (`augment`
            if given, else `AugmentConfig()`), appended to both views, so
            patients PCLR cannot pair still teach the encoder. Defaults to 0.
        lead_mask: float in [0, 1]. Chance that a view of an ECG keeps only
            one of `lead_sets` (drawn per view), the other leads zero.
            Defaults to 0 (all leads).
        lead_sets: lead-set specs masking draws from (`variants.LEAD_SETS`
            names or comma lists). Defaults to every named set but all 12.

    Returns:
        `tf.data.Dataset` of `(view1, view2)`, each float32
        (per_replica_batch, samples, leads), or with `extra_negatives` of
        `(view1, view2, negatives)`, negatives (per_replica_extra, samples,
        leads). With `single_ecg_pairs`, each view has that many more rows
        (split across replicas like the batch) after the patient pairs.
    """
    if objective not in PRETRAINING_OBJECTIVES:
        raise ValueError(f"Unknown objective {objective!r}; choose one of "
                         f"{list(PRETRAINING_OBJECTIVES)}.")
    seed, start_step = int(seed), int(start_step)
    if seed < 0 or start_step < 0:
        raise ValueError("seed and start_step must be >= 0.")
    steps = steps_per_epoch(ecgs, global_batch_size, objective)
    per_replica, slices = _replica_slices(global_batch_size, input_context)
    singles = check_one_ecg_patients(ecgs, objective, extra_negatives, single_ecg_pairs)
    if objective == "pclr":
        views = 2
        epoch_plan = lambda e: ecgs._pair_epoch(seed, e, global_batch_size)  # noqa: E731
        batch_plan = lambda e, b, patients: ecgs._pair_batch(seed, e, b, patients)  # noqa: E731
    else:
        views = 1
        epoch_plan = lambda e: ecgs._unit_epoch(seed, e, global_batch_size)  # noqa: E731
        batch_plan = lambda e, b, positions: positions[None]  # noqa: E731
    augmenter = _with_lead_mask(_augmenter(augment, objective), lead_mask, lead_sets,
                                ecgs.variant)
    singles_augmenter = (_with_lead_mask(_augmenter(augment or AugmentConfig(), objective),
                                         lead_mask, lead_sets, ecgs.variant)
                         if single_ecg_pairs else None)
    length, leads = ecgs.input_shape
    dataset = _plan_dataset(epoch_plan, batch_plan, steps, start_step, slices, views, per_replica)
    if singles:
        singles_per_replica, singles_slices = _replica_slices(singles, input_context)
        drawn = _singles_plan(ecgs, seed, singles, start_step, singles_slices,
                              singles_per_replica)
        dataset = tf.data.Dataset.zip(dataset, drawn).map(lambda plan, extra: (*plan, *extra))

    def read(positions, step, first, *singles_plan):
        x = _read_map(ecgs, positions, (views, per_replica, length, leads))
        if not singles_plan:
            return x, step, first
        positions, singles_first = singles_plan
        return (x, step, first, _read_map(ecgs, positions[0], (singles_per_replica, length, leads)),
                singles_first)

    def augmented(x, step, first, view):
        return _augmented(augmenter, x, seed, step, first, global_batch_size, view)

    def make_views(x, step, first, *drawn):
        if objective == "pclr":
            view1, view2 = augmented(x[0], step, first, 0), augmented(x[1], step, first, 1)
            if not drawn or extra_negatives:
                return view1, view2, *drawn[:1]
            ecg, singles_first = drawn
            return tuple(tf.concat([v, _augmented(singles_augmenter, ecg, seed, step, singles_first,
                                                  singles, view, one_ecg=True)], 0)
                         for view, v in enumerate((view1, view2)))
        if objective == "simclr":
            return augmented(x[0], step, first, 0), augmented(x[0], step, first, 1)
        recording = augmented(x[0], step, first, 0)  # clocs
        first_half = tf.cast(tf.range(length) < length // 2, tf.float32)[None, :, None]
        return recording * first_half, recording * (1.0 - first_half)

    dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.map(make_views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _options(dataset.prefetch(tf.data.AUTOTUNE))


def _binary_targets(ecgs, targets):
    """(n, len(targets)) int 0/1 from binary label columns, or a clear error."""
    columns = []
    for name in targets:
        if name not in ecgs.labels:
            raise ValueError(f"No label column {name!r} in {ecgs.path / 'labels.csv'} "
                             f"(columns: {list(ecgs.labels)}).")
        column = ecgs.labels[name]
        if column.isna().any():
            raise ValueError(f"Label column {name!r} is empty for {int(column.isna().sum())} "
                             "kept ECGs; filter them out (label_filter) or fill them.")
        values = column.map(lambda v: {True: 1, False: 0, "True": 1, "False": 0,
                                       "true": 1, "false": 0}.get(v, v))
        try:
            values = values.astype(float)
        except (TypeError, ValueError):
            values = None
        if values is None or not values.isin((0.0, 1.0)).all():
            seen = sorted(map(str, column.unique()))[:5]
            raise ValueError(f"Label column {name!r} is not binary (0/1 or True/False); "
                             f"values include {seen}.")
        columns.append(values.to_numpy(np.int64))
    return np.stack(columns, axis=1) if columns else np.zeros((len(ecgs), 0), np.int64)


def labelled_dataset(ecgs, batch_size, *, targets=(), shuffle=True, seed=0, start_step=0,
                     input_context=None):
    """ECG batches, with one-hot binary targets for supervised training.

    Args:
        ecgs: `TensorizedECGs`.
        batch_size: int. Global batch size.
        targets: names of binary label columns (0/1 or True/False). Empty
            (default): the dataset yields `x` only (auto-encoder).
        shuffle: bool. True (default): infinite, each epoch a permutation of
            the ECGs seeded by `(seed, epoch)`, remainder dropped. False: one
            pass in `labels` order, the last batch partial (split over the
            replicas as evenly as possible).
        seed: int >= 0. Defaults to 0.
        start_step: int. Global step to start at (see `pretraining_dataset`).
        input_context: optional `tf.distribute.InputContext`.

    Returns:
        `tf.data.Dataset` of `x` float32 (per_replica_batch, samples, leads),
        or `(x, {target: float32 one-hot (per_replica_batch, 2)})`.
    """
    targets = [targets] if isinstance(targets, str) else list(targets)
    values = _binary_targets(ecgs, targets)
    batch_size = positive_int(batch_size, "batch_size")
    seed, start_step = int(seed), int(start_step)
    if seed < 0 or start_step < 0:
        raise ValueError("seed and start_step must be >= 0.")
    per_replica, slices = _replica_slices(batch_size, input_context)
    length, leads = ecgs.input_shape

    if shuffle:
        steps = steps_per_epoch(ecgs, batch_size, "labelled")
        dataset = _plan_dataset(lambda e: ecgs._shuffled_epoch(seed, e, batch_size),
                                lambda e, b, positions: positions[None], steps, start_step,
                                slices, 1, per_replica)
        dataset = dataset.map(lambda positions, step, first: positions[0])
    else:
        replicas = len(slices) * (input_context.num_input_pipelines if input_context else 1)
        first = (input_context.input_pipeline_id * len(slices)) if input_context else 0

        def one_pass():
            for start in range(start_step * batch_size, len(ecgs), batch_size):
                batch = np.arange(start, min(start + batch_size, len(ecgs)))
                parts = np.array_split(batch, replicas)
                for j in range(len(slices)):
                    yield parts[first + j]

        dataset = tf.data.Dataset.from_generator(
            one_pass, output_signature=tf.TensorSpec((None,), tf.int64))
        per_replica = None

    one_hot = tf.constant(values)

    def read(positions):
        x = _read_map(ecgs, positions, (per_replica, length, leads))
        if not targets:
            return x
        y = tf.one_hot(tf.gather(one_hot, positions), 2, dtype=tf.float32)  # (b, T, 2)
        return x, {name: y[:, i] for i, name in enumerate(targets)}

    dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _options(dataset.prefetch(tf.data.AUTOTUNE))
