"""The shared half of the contrastive objectives: projection head, NT-Xent, view pipeline.

A contrastive objective only says how its two views are made (`sampling`,
`make_views`, `default_augment`); the model is the encoder plus ml4h's
projection head, and the loss is NT-Xent with negatives from the whole
global batch (`losses.py`), its pair accuracy from the same logits.
"""

import tensorflow as tf

from pclr_keras.models import build_encoder, build_pretraining_model
from pclr_keras.training.augment import MASKED_LEAD_SETS, AugmentConfig
from pclr_keras.training.losses import nt_xent_and_pair_accuracy
from pclr_keras.training.objectives.base import Objective
from pclr_keras.training.views import view_dataset

EVALUATION_SEED = 12345  # held-out pairs never follow the training order


class ContrastiveObjective(Objective):
    """Two views of every example, pulled together against the rest of the global batch.

    Class attributes (besides `Objective`'s):
        default_augment: an `AugmentConfig`, or None: what augments the
            views when the run does not ask for augmentation.
    """

    contrastive = True
    default_augment = None

    @staticmethod
    def make_views(x, augmented, length):
        """Two views (r, L, C) from the read ECGs x (sampling.views, r, L, C).

        `augmented(ecgs, view)` augments ECGs as view 0 or 1; `length` is L.
        """
        raise NotImplementedError

    def build_model(self, distributed):
        encoder = build_encoder(self.config.variant, **self.encoder_options(distributed))
        width = encoder.output.shape[-1]
        return build_pretraining_model(encoder, (width, width))

    def dataset(self, ecgs, start_step=0, input_context=None):
        config = self.config
        return view_dataset(
            ecgs, config.batch_size, self, seed=config.seed, start_step=start_step,
            input_context=input_context, augment=AugmentConfig() if config.augment else None,
            singles=config.extra_negatives or config.single_ecg_pairs,
            singles_as_pairs=bool(config.single_ecg_pairs), lead_mask=config.lead_mask,
            lead_sets=config.lead_sets or MASKED_LEAD_SETS)

    def evaluation_dataset(self, ecgs):
        return view_dataset(ecgs, self.config.batch_size, self, seed=EVALUATION_SEED)

    def losses_and_metrics(self, model, batch, training):
        view1, view2, *negatives = batch  # negatives: extra ones, in training only
        projections = model(tf.concat([view1, view2, *negatives], 0), training=training)
        projections = tf.cast(projections, tf.float32)
        pairs = tf.shape(view1)[0]
        hidden1, hidden2 = projections[:pairs], projections[pairs:2 * pairs]
        extra = projections[2 * pairs:] if negatives else None
        return nt_xent_and_pair_accuracy(hidden1, hidden2, self.config.temperature, extra)

    @property
    def ecgs_per_step(self):
        """Both views of the pairs and single-ECG pairs, plus the extra negatives."""
        config = self.config
        return 2 * (config.batch_size + config.single_ecg_pairs) + config.extra_negatives
