"""Labelled ECG batches: the auto-encoder's inputs and the supervised baseline's targets.

Shuffled, the batches are a function of `(seed, step)` (`plans.SHUFFLED_ECGS`),
so a resumed run reads what an uninterrupted one would; split over replicas
like the contrastive batches (`pipeline.py`).
"""

import numpy as np
import tensorflow as tf

from pclr_keras.checks import positive_int
from pclr_keras.training.pipeline import (deterministic, plan_dataset, read_positions,
                                          replica_slices)
from pclr_keras.training.plans import SHUFFLED_ECGS, steps_per_epoch

_BINARY = {True: 1, False: 0, "True": 1, "False": 0, "true": 1, "false": 0}


def binary_targets(ecgs, targets):
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
        values = column.map(lambda v: _BINARY.get(v, v))
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


def _one_pass(ecgs, batch_size, start_step, input_context, local_replicas):
    """Dataset of labels positions: one pass in order, each batch split over the replicas."""
    replicas = local_replicas * (input_context.num_input_pipelines if input_context else 1)
    first = (input_context.input_pipeline_id * local_replicas) if input_context else 0

    def generate():
        for start in range(start_step * batch_size, len(ecgs), batch_size):
            batch = np.arange(start, min(start + batch_size, len(ecgs)))
            parts = np.array_split(batch, replicas)
            for j in range(local_replicas):
                yield parts[first + j]

    return tf.data.Dataset.from_generator(
        generate, output_signature=tf.TensorSpec((None,), tf.int64))


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
    one_hot = tf.constant(binary_targets(ecgs, targets))
    batch_size = positive_int(batch_size, "batch_size")
    seed, start_step = int(seed), int(start_step)
    if seed < 0 or start_step < 0:
        raise ValueError("seed and start_step must be >= 0.")
    per_replica, slices = replica_slices(batch_size, input_context)
    length, leads = ecgs.input_shape
    if shuffle:
        steps = steps_per_epoch(ecgs, batch_size, SHUFFLED_ECGS, "labelled")
        dataset = plan_dataset(SHUFFLED_ECGS, ecgs.groups, seed, batch_size, steps, start_step,
                               slices, per_replica)
        dataset = dataset.map(lambda positions, step, first: positions[0])
    else:
        dataset = _one_pass(ecgs, batch_size, start_step, input_context, len(slices))
        per_replica = None

    def read(positions):
        x = read_positions(ecgs, positions, (per_replica, length, leads))
        if not targets:
            return x
        y = tf.one_hot(tf.gather(one_hot, positions), 2, dtype=tf.float32)  # (b, T, 2)
        return x, {name: y[:, i] for i, name in enumerate(targets)}

    dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return deterministic(dataset.prefetch(tf.data.AUTOTUNE))
