"""SimCLR: two random augmentations (`augment.py`) of one ECG are the two views.

Batches (`plans.DISTINCT_PATIENTS`): an epoch reads every ECG once, no
patient twice in a global batch, so a patient's other ECGs are never its
negatives. The views are always augmented (`AugmentConfig()` by default).
"""

from pclr_keras.training.augment import AugmentConfig
from pclr_keras.training.objectives.contrastive import ContrastiveObjective
from pclr_keras.training.plans import DISTINCT_PATIENTS


class SimCLR(ContrastiveObjective):
    """Instance discrimination: an ECG's two augmentations meet."""

    name = "simclr"
    sampling = DISTINCT_PATIENTS
    default_augment = AugmentConfig()

    @staticmethod
    def make_views(x, augmented, length):
        return augmented(x[0], 0), augmented(x[0], 1)
