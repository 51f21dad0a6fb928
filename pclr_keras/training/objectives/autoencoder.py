"""ml4h's convolutional auto-encoder: reconstruct the ECG through the encoder's `embed`.

The loss is the mean log-cosh between the input and its reconstruction.
"""

import keras
import numpy as np
import tensorflow as tf

from pclr_keras.models import build_autoencoder
from pclr_keras.training.objectives.labelled import LabelledObjective


class Autoencoder(LabelledObjective):
    """Reconstruction: what an ECG's embedding must keep to redraw it."""

    name = "autoencoder"

    def build_model(self, distributed):
        return build_autoencoder(self.config.variant,
                                 **self.encoder_options(distributed))

    def losses_and_metrics(self, model, batch, training):
        reconstruction = tf.cast(model(batch, training=training), tf.float32)
        return tf.reduce_mean(keras.losses.log_cosh(batch, reconstruction)), np.nan
