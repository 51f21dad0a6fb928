"""ml4h's Ribeiro-style classifier: the encoder trained on binary label columns.

A `Dense(2, sigmoid)` head per target (`targets`), one-hot labels; the loss is the sum
over targets of the mean categorical cross-entropy.
"""

import keras
import numpy as np
import tensorflow as tf

from pclr_keras.models import build_ribeiro_classifier
from pclr_keras.training.objectives.labelled import LabelledObjective


class Supervised(LabelledObjective):
    """Supervised pre-training on the data's own labels."""

    name = "supervised"

    @classmethod
    def check(cls, config):
        if not config.targets:
            raise ValueError("The supervised objective needs targets (binary label columns).")

    @property
    def targets(self):
        return self.config.targets

    def build_model(self, distributed):
        return build_ribeiro_classifier(self.config.variant, targets=self.config.targets,
                                        **self.encoder_options(distributed))

    def losses_and_metrics(self, model, batch, training):
        x, targets = batch
        outputs = model(x, training=training)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        loss = tf.add_n([
            tf.reduce_mean(keras.losses.categorical_crossentropy(
                targets[name], tf.cast(output, tf.float32)))
            for name, output in zip(self.config.targets, outputs)])
        return loss, np.nan
