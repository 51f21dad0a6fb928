"""Which ECGs make every global step: pure numpy, a function of `(seed, epoch, batch)`.

A run resumed at `start_step` computes the plan of that step directly and
reads no ECG it skips. Positions are rows of `TensorizedECGs.labels`. Three
ways to sample a global batch, each a `Sampling`:

- `PATIENT_PAIRS`: each epoch permutes the patients with two ECGs or more
  (numpy Generator seeded by `(seed, epoch)`), cut into global batches of
  distinct patients (the remainder is dropped); each patient of a batch gives
  two *different* ECGs drawn at random (seeded by `(seed, epoch, batch)`).
- `DISTINCT_PATIENTS`: an epoch reads every ECG once; within a global batch
  patients are distinct (ECGs without a patient id count as their own
  patient): the ECGs, grouped by patient in a random patient order, are dealt
  to the batches in turn, so a patient's ECGs land in different batches
  (guaranteed while no patient has more ECGs than there are steps per epoch).
- `SHUFFLED_ECGS`: each epoch a permutation of the ECGs seeded by
  `(seed, epoch)`, the remainder dropped.

ECGs of patients known to have a single ECG can also be drawn per step
(`one_ecg_patients`, seeded by `(seed, step)`): safe negatives, never a false one.
"""

import dataclasses

import numpy as np

from pclr_keras.checks import positive_int

_SINGLES_STREAM = 1  # keeps the one-ECG patients' random stream apart from the pairs'


@dataclasses.dataclass(frozen=True)
class PatientGroups:
    """The kept ECGs grouped by patient, as positions in `labels`.

    Attributes:
        size: number of ECGs.
        pair_patients: sorted ids of the patients with two ECGs or more.
        pair_order: labels positions, grouped by patient.
        pair_start, pair_count: where each pair patient's ECGs sit in
            `pair_order`, and how many there are.
        single_positions: ECGs of patients with exactly one ECG.
        unit: (size,) the sampling unit of each ECG: its patient, or the ECG
            itself where the patient is unknown.
        num_units: number of units.
    """

    size: int
    pair_patients: list
    pair_order: np.ndarray
    pair_start: np.ndarray
    pair_count: np.ndarray
    single_positions: np.ndarray
    unit: np.ndarray
    num_units: int

    @classmethod
    def of(cls, patient_ids, shard_rows):
        """Groups ECGs by patient id ("" where unknown); ties ordered by [shard, row]."""
        order = np.lexsort((shard_rows[:, 1], shard_rows[:, 0], patient_ids))
        sorted_ids = patient_ids[order]
        new_patient = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]
        starts = np.flatnonzero(new_patient)
        counts = np.diff(np.r_[starts, len(order)])
        ids = sorted_ids[starts]
        pair = (counts >= 2) & (ids != "")
        single = (counts == 1) & (ids != "")
        unit_of_sorted = np.cumsum(new_patient) - 1
        unknown = sorted_ids == ""
        unit_of_sorted[unknown] = unit_of_sorted.max() + 1 + np.arange(unknown.sum())
        unit = np.empty(len(order), np.int64)
        unit[order] = unit_of_sorted
        return cls(size=len(order), pair_patients=ids[pair].tolist(), pair_order=order,
                   pair_start=starts[pair], pair_count=counts[pair],
                   single_positions=np.sort(order[starts[single]]), unit=unit,
                   num_units=int(unit.max()) + 1)


class Sampling:
    """How a global batch is drawn: its units, its epoch table and each batch's positions.

    Attributes:
        views: rows of positions per batch (2: two ECGs of each unit).
        units: what `count` counts, for error messages.
        nothing: what an empty count means, for error messages.
    """

    views = 1
    units = "ECGs"
    nothing = "there is nothing"

    def count(self, ecgs):
        """Units an epoch is cut from."""
        return len(ecgs)

    def epoch(self, groups, seed, epoch, global_batch_size):
        """(steps, ...) table; row b is what `batch` turns into positions."""
        raise NotImplementedError

    def batch(self, groups, seed, epoch, batch, row):
        """Labels positions (views, global_batch_size) of one global batch."""
        return row[None]


class PatientPairs(Sampling):
    """Two different ECGs of each of a batch's distinct patients."""

    views = 2
    units = "patients with >= 2 ECGs"
    nothing = "there is nothing to pair"

    def count(self, ecgs):
        return len(ecgs.pair_patients)

    def epoch(self, groups, seed, epoch, global_batch_size):
        order = np.random.default_rng([seed, epoch]).permutation(len(groups.pair_patients))
        steps = len(order) // global_batch_size
        return order[:steps * global_batch_size].reshape(steps, global_batch_size)

    def batch(self, groups, seed, epoch, batch, row):
        rng = np.random.default_rng([seed, epoch, batch])
        count = groups.pair_count[row]
        first = rng.integers(0, count)
        second = rng.integers(0, count - 1)
        second += second >= first
        start = groups.pair_start[row]
        return np.stack([groups.pair_order[start + first], groups.pair_order[start + second]])


class DistinctPatients(Sampling):
    """Every ECG once an epoch, no patient twice in a global batch."""

    def epoch(self, groups, seed, epoch, global_batch_size):
        rng = np.random.default_rng([seed, epoch])
        unit_rank = rng.permutation(groups.num_units)
        order = np.lexsort((rng.random(groups.size), unit_rank[groups.unit]))
        steps = len(order) // global_batch_size
        # deal the patient-grouped ECGs to the batches in turn
        return order[:steps * global_batch_size].reshape(global_batch_size, steps).T


class ShuffledECGs(Sampling):
    """A permutation of the ECGs each epoch."""

    def epoch(self, groups, seed, epoch, global_batch_size):
        order = np.random.default_rng([seed, epoch]).permutation(groups.size)
        steps = len(order) // global_batch_size
        return order[:steps * global_batch_size].reshape(steps, global_batch_size)


PATIENT_PAIRS = PatientPairs()
DISTINCT_PATIENTS = DistinctPatients()
SHUFFLED_ECGS = ShuffledECGs()


def steps_per_epoch(ecgs, global_batch_size, sampling, name):
    """Global steps in one epoch of `sampling`: its units // batch.

    Raises:
        ValueError: if not one global batch fits, saying how many units
            there are and the largest batch that works (`name`: what for).
    """
    global_batch_size = positive_int(global_batch_size, "global_batch_size")
    count = sampling.count(ecgs)
    steps = count // global_batch_size
    if steps == 0:
        hint = f"the largest global batch that works is {count}" if count else sampling.nothing
        raise ValueError(f"{ecgs.path} (after filters) has {count} {sampling.units}, fewer than "
                         f"one global batch of {global_batch_size} for {name!r}; {hint}.")
    return steps


def one_ecg_patients(groups, seed, step, count):
    """`count` distinct ECGs of one-ECG patients for a step: labels positions (1, count)."""
    rng = np.random.default_rng([seed, step, _SINGLES_STREAM])
    return groups.single_positions[rng.choice(len(groups.single_positions), count,
                                              replace=False)][None]


def one_ecg_patients_per_step(ecgs, extra_negatives, single_ecg_pairs, objective, takers):
    """How many one-ECG patients a step draws, or a ValueError if that cannot be done.

    They are either extra negatives or single-ECG pairs: one kind per run,
    for the objectives in `takers`, and no more than the data has.
    """
    extra_negatives, single_ecg_pairs = int(extra_negatives), int(single_ecg_pairs)
    if extra_negatives and single_ecg_pairs:
        raise ValueError("one-ECG patients join a step either as extra negatives or as "
                         "single-ECG pairs, not both; choose one.")
    count = extra_negatives or single_ecg_pairs
    what = "extra negatives" if extra_negatives else "single-ECG pairs"
    if count and objective not in takers:
        raise ValueError(f"{what} are for the {' or '.join(takers)} objective, "
                         f"not {objective!r}.")
    available = len(ecgs.groups.single_positions) if count else 0
    if count > available:
        raise ValueError(f"{ecgs.path} (after filters) has {available} ECGs of patients "
                         f"with a single ECG, fewer than {count} {what} per step.")
    return count
