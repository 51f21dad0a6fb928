"""PCLR: two different ECGs of one patient are the two views.

Batches (`plans.PATIENT_PAIRS`): each epoch permutes the patients with two
ECGs or more, cut into global batches of distinct patients; each patient
gives two different ECGs drawn at random. The views are not augmented unless
the run asks (`augment`). Patients with a single ECG may join every step, as
negatives only (`extra_negatives`) or as pairs of two augmentations of their
one ECG (`single_ecg_pairs`).
"""

from pclr_keras.training.objectives.contrastive import ContrastiveObjective
from pclr_keras.training.plans import PATIENT_PAIRS


class PCLR(ContrastiveObjective):
    """Patient contrastive learning: a patient's ECGs meet, other patients' part."""

    name = "pclr"
    sampling = PATIENT_PAIRS
    one_ecg_patients = True

    @staticmethod
    def make_views(x, augmented, length):
        return augmented(x[0], 0), augmented(x[1], 1)
