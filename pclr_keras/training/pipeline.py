"""The tf.data plumbing every training pipeline shares: plans in, per-replica reads out.

A plan (`plans.py`) says which ECGs make each global step; here it becomes a
`Dataset` whose index batches are read from the HDF5 shards inside
`tf.numpy_function`, in a parallel, order-keeping `map`, then prefetched.

With a `tf.distribute.InputContext`, pipeline `i` of `n` serves its
`k = num_replicas_in_sync // n` replicas: for every global step it yields k
per-replica batches in order, replica j getting rows
`[(i*k + j)*r, (i*k + j + 1)*r)` of the global batch (r: per-replica batch).
The replicas of a step together see exactly the global batch one replica
would see.
"""

import tensorflow as tf


def replica_slices(global_batch_size, input_context):
    """(per-replica batch, this pipeline's (start, stop) rows of the global batch per replica)."""
    if input_context is None:
        return global_batch_size, [(0, global_batch_size)]
    per_replica = input_context.get_per_replica_batch_size(global_batch_size)
    local = input_context.num_replicas_in_sync // input_context.num_input_pipelines
    first = input_context.input_pipeline_id * local
    return per_replica, [((first + j) * per_replica, (first + j + 1) * per_replica)
                         for j in range(local)]


def plan_dataset(sampling, groups, seed, global_batch_size, steps, start_step, slices,
                 per_replica):
    """Dataset of (labels positions (views, r), global step, first row in the global batch).

    Args:
        sampling: a `plans.Sampling`.
        groups: the ECGs' `plans.PatientGroups`.
        seed: int. The plan's seed.
        global_batch_size, steps: int. Batch and steps per epoch.
        start_step: int. The first global step.
        slices, per_replica: from `replica_slices`.
    """

    def generate():
        step, epoch, table = start_step, None, None
        while True:
            e, b = divmod(step, steps)
            if e != epoch:
                epoch, table = e, sampling.epoch(groups, seed, e, global_batch_size)
            positions = sampling.batch(groups, seed, e, b, table[b])
            for lo, hi in slices:
                yield positions[:, lo:hi], step, lo
            step += 1

    return tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((sampling.views, per_replica), tf.int64), tf.TensorSpec((), tf.int64),
        tf.TensorSpec((), tf.int64)))


def read_positions(ecgs, positions, shape):
    """ECG tensors of labels `positions`, read in a tf.data map, of static `shape`."""
    x = tf.numpy_function(ecgs.read_ecgs, [positions], tf.float32, stateful=False)
    return tf.ensure_shape(x, shape)


def deterministic(dataset):
    """`dataset` in a fixed order, not sharded again by tf.distribute."""
    options = tf.data.Options()
    options.deterministic = True
    # replicas are served by the plan itself: tf.distribute must not shard again
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)
