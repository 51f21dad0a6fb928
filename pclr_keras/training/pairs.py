"""`pclr tensorize` output -> the contrastive objectives' `(view1, view2)` batches, by name.

The objectives own their batches (`objectives/`: which ECGs, which views;
`views.py`: reads, augmentation, lead masking, one-ECG patients); these
functions look an objective up by name for callers that have no run config.
"""

from pclr_keras.training.augment import MASKED_LEAD_SETS
from pclr_keras.training.objectives import CONTRASTIVE, ONE_ECG_PATIENTS, get_objective
from pclr_keras.training.plans import one_ecg_patients_per_step
from pclr_keras.training.plans import steps_per_epoch as sampling_steps
from pclr_keras.training.views import view_dataset

PRETRAINING_OBJECTIVES = CONTRASTIVE


def steps_per_epoch(ecgs, global_batch_size, objective="pclr"):
    """Global steps in one epoch: pclr patients (or, for other objectives, ECGs) // batch.

    Raises:
        ValueError: if not one global batch fits, saying how many patients
            (ECGs) there are and the largest batch that works.
    """
    return sampling_steps(ecgs, global_batch_size, get_objective(objective).sampling, objective)


def check_one_ecg_patients(ecgs, objective="pclr", extra_negatives=0, single_ecg_pairs=0):
    """How many one-ECG patients a step draws, or a ValueError if that cannot be done.

    They are either extra negatives or single-ECG pairs: one kind per run,
    for the objectives that take them (pclr), and no more than the data has.
    """
    return one_ecg_patients_per_step(ecgs, extra_negatives, single_ecg_pairs, objective,
                                     ONE_ECG_PATIENTS)


def pretraining_dataset(ecgs, global_batch_size, *, objective="pclr", seed=0, start_step=0,
                        input_context=None, augment=None, extra_negatives=0,
                        single_ecg_pairs=0, lead_mask=0.0, lead_sets=MASKED_LEAD_SETS):
    """Infinite `(view1, view2)` batches for a contrastive objective.

    Args:
        ecgs: `TensorizedECGs`.
        global_batch_size: int. Patients (pclr) or ECGs per global step.
        objective: "pclr", "simclr" or "clocs" (`objectives/`).
        seed: int >= 0. Decides the whole sequence of batches (and
            augmentations). Defaults to 0.
        start_step: int. Global step the dataset starts at (epoch =
            start_step // steps_per_epoch); a run resumed at step s sees the
            data an uninterrupted run sees from step s. Defaults to 0.
        input_context: optional `tf.distribute.InputContext`; then this
            pipeline yields, for each global step, the per-replica batches of
            its replicas in order (`pipeline.py`).
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
    views = get_objective(objective, among=PRETRAINING_OBJECTIVES)
    singles = check_one_ecg_patients(ecgs, objective, extra_negatives, single_ecg_pairs)
    return view_dataset(ecgs, global_batch_size, views, seed=seed, start_step=start_step,
                        input_context=input_context, augment=augment, singles=singles,
                        singles_as_pairs=bool(int(single_ecg_pairs)), lead_mask=lead_mask,
                        lead_sets=lead_sets)
