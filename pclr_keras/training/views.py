"""Two views of every example of a global batch: the contrastive objectives' tf.data pipeline.

An objective says which ECGs a batch holds (its `plans.Sampling`), how they
become two views (`make_views`) and whether they are augmented by default;
this module reads them (`pipeline.py`), augments them and adds what every
contrastive objective may add:

- augmentation (`augment.py`), every ECG's seed from `(seed, step, row in
  the global batch, view)`, so replica splits augment as one replica does;
- lead masking (`lead_mask`): after augmentation, each view of each ECG
  keeps, with that probability, one lead set real devices record (its own
  draw, `augment.mask_leads`), the other leads zero, so the encoder learns to
  place a patient's lead-I recording where that patient's 12-lead one is;
- ECGs of patients with a single ECG (`plans.one_ecg_patients`), drawn per
  step: as a third element, negatives only (`extra_negatives`), or as pairs
  of two augmentations of the one ECG after the batch's pairs in both views
  (`single_ecg_pairs`).
"""

import tensorflow as tf

from pclr_keras.training.augment import (MASKED_LEAD_SETS, AugmentConfig, augment_batch,
                                         lead_set_masks, mask_leads)
from pclr_keras.training.pipeline import (deterministic, plan_dataset, read_positions,
                                          replica_slices)
from pclr_keras.training.plans import one_ecg_patients, steps_per_epoch
from pclr_keras.variants import get_variant


def augmenter(augment):
    """`(x, seeds) -> x` from None or False (none), an `AugmentConfig` or a callable."""
    if augment is None or augment is False:
        return None
    if isinstance(augment, AugmentConfig):
        return lambda x, seeds: augment_batch(x, seeds, augment)
    if callable(augment):
        return augment
    raise TypeError("augment must be None, False, an AugmentConfig or a callable "
                    f"(x, seeds) -> x, not {augment!r}.")


def with_lead_mask(apply, probability, lead_sets, variant):
    """`apply`, then `mask_leads` with `probability` (0: `apply` unchanged)."""
    if not probability:
        return apply
    masks = lead_set_masks(lead_sets, get_variant(variant).leads)

    def masked(x, seeds):
        return mask_leads(apply(x, seeds) if apply else x, seeds, probability, masks)

    return masked


def augmented(apply, x, seed, step, first, width, view, one_ecg=False):
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


def _one_ecg_plan(ecgs, seed, count, start_step, slices, per_replica):
    """Dataset of (labels positions (1, r) of one-ECG patients, first row), per step and replica."""

    def generate():
        step = start_step
        while True:
            positions = one_ecg_patients(ecgs.groups, seed, step, count)
            for lo, hi in slices:
                yield positions[:, lo:hi], lo
            step += 1

    return tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((1, per_replica), tf.int64), tf.TensorSpec((), tf.int64)))


def _planned_reads(ecgs, sampling, name, global_batch_size, seed, start_step, input_context,
                   singles):
    """Dataset of (ECGs (views, r, L, C), step, first row[, one-ECG ECGs (r1, L, C), first row])."""
    steps = steps_per_epoch(ecgs, global_batch_size, sampling, name)
    per_replica, slices = replica_slices(global_batch_size, input_context)
    length, leads = ecgs.input_shape
    dataset = plan_dataset(sampling, ecgs.groups, seed, global_batch_size, steps, start_step,
                           slices, per_replica)
    shape = (sampling.views, per_replica, length, leads)
    if not singles:
        return dataset.map(lambda positions, step, first: (
            read_positions(ecgs, positions, shape), step, first),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    singles_per_replica, singles_slices = replica_slices(singles, input_context)
    drawn = _one_ecg_plan(ecgs, seed, singles, start_step, singles_slices, singles_per_replica)

    def read(plan, extra):
        (positions, step, first), (extra_positions, extra_first) = plan, extra
        return (read_positions(ecgs, positions, shape), step, first,
                read_positions(ecgs, extra_positions[0], (singles_per_replica, length, leads)),
                extra_first)

    return tf.data.Dataset.zip(dataset, drawn).map(read, num_parallel_calls=tf.data.AUTOTUNE,
                                                   deterministic=True)


def view_dataset(ecgs, global_batch_size, views, *, seed=0, start_step=0, input_context=None,
                 augment=None, singles=0, singles_as_pairs=False, lead_mask=0.0,
                 lead_sets=MASKED_LEAD_SETS):
    """Infinite `(view1, view2[, negatives])` per-replica batches of a contrastive objective.

    Args:
        ecgs: `TensorizedECGs`.
        global_batch_size: int. Units (`views.sampling`) per global step.
        views: the objective: `name`, `sampling` (a `plans.Sampling`),
            `default_augment` (used where `augment` is None) and
            `make_views(x, augmented, length)`, which turns the read ECGs
            x (sampling.views, r, L, C) into two views, `augmented(ecgs,
            view)` augmenting ECGs as view 0 or 1.
        seed, start_step, input_context, augment, lead_mask, lead_sets: as
            `pairs.pretraining_dataset`.
        singles: int. One-ECG patients per global step (checked by the caller).
        singles_as_pairs: bool. They join both views as pairs of their own
            instead of coming third as negatives.
    """
    seed, start_step = int(seed), int(start_step)
    if seed < 0 or start_step < 0:
        raise ValueError("seed and start_step must be >= 0.")
    apply = with_lead_mask(augmenter(views.default_augment if augment is None else augment),
                           lead_mask, lead_sets, ecgs.variant)
    singles_apply = with_lead_mask(augmenter(augment or AugmentConfig()), lead_mask, lead_sets,
                                   ecgs.variant) if singles_as_pairs else None
    length = ecgs.input_shape[0]

    def make_views(x, step, first, *drawn):
        pair = views.make_views(x, lambda ecgs, view: augmented(
            apply, ecgs, seed, step, first, global_batch_size, view), length)
        if not drawn or not singles_as_pairs:
            return (*pair, *drawn[:1])
        ecg, singles_first = drawn
        return tuple(tf.concat([v, augmented(singles_apply, ecg, seed, step, singles_first,
                                             singles, view, one_ecg=True)], 0)
                     for view, v in enumerate(pair))

    dataset = _planned_reads(ecgs, views.sampling, views.name, global_batch_size, seed, start_step,
                             input_context, singles)
    dataset = dataset.map(make_views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return deterministic(dataset.prefetch(tf.data.AUTOTUNE))
