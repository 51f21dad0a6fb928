"""CLOCS: the two halves in time of one recording are the two views.

The "contrastive multi-segment coding" of CLOCS (Kiyasseh et al. 2021):
view 1 is the first half with the second half zeroed, view 2 the second half
with the first half zeroed, so both keep the 10 s time scale the encoder
expects. Any augmentation applies to the recording, before the halves are
zeroed. Batches as SimCLR's (`plans.DISTINCT_PATIENTS`).
"""

import tensorflow as tf

from pclr_keras.training.objectives.contrastive import ContrastiveObjective
from pclr_keras.training.plans import DISTINCT_PATIENTS


class CLOCS(ContrastiveObjective):
    """Temporal contrast: the two halves of a recording meet."""

    name = "clocs"
    sampling = DISTINCT_PATIENTS

    @staticmethod
    def make_views(x, augmented, length):
        recording = augmented(x[0], 0)
        first_half = tf.cast(tf.range(length) < length // 2, tf.float32)[None, :, None]
        return recording * first_half, recording * (1.0 - first_half)
