"""What every pre-training objective provides to the loop, and nothing about how it runs.

`Pretrainer` (`loop.py`) asks an objective for its model, its batches and
the loss of one replica's batch; it never asks which objective it runs. A new
objective is a subclass in a module of its own, listed in the registry
(`objectives/__init__.py`).
"""

import keras

from pclr_keras.precision import with_precision
from pclr_keras.training.plans import steps_per_epoch


class Objective:
    """A pre-training objective, bound to the run's `PretrainConfig`.

    Class attributes:
        name: str. What `PretrainConfig.objective` and `pclr pretrain
            --objective` call it.
        sampling: `plans.Sampling`. How a global batch is drawn (what an
            epoch counts).
        contrastive: bool. Trains on two views with NT-Xent; only these
            may mask leads.
        one_ecg_patients: bool. Takes patients with a single ECG as extra
            negatives or single-ECG pairs.
    """

    name = ""
    sampling = None
    contrastive = False
    one_ecg_patients = False

    def __init__(self, config):
        self.config = config

    @classmethod
    def check(cls, config):
        """Refuses a config this objective cannot train (a ValueError saying why)."""

    def encoder_options(self, distributed):
        """`build_encoder` overrides: the config's, and batch norm synchronised across replicas
        when distributed."""
        return dict(self.config.encoder, synchronized_bn=distributed)

    def build_model(self, distributed):
        """The float32 model this objective trains; it holds the encoder's `embed` layer."""
        raise NotImplementedError

    def training_model(self, distributed):
        """(`build_model` in the config's precision, its encoder: input to `embed`)."""
        model = with_precision(self.build_model(distributed), self.config.precision)
        return model, keras.Model(model.input, model.get_layer("embed").output)

    def steps_per_epoch(self, ecgs):
        """Global steps in one epoch of `ecgs` (a ValueError when no batch fits)."""
        return steps_per_epoch(ecgs, self.config.batch_size, self.sampling, self.name)

    def dataset(self, ecgs, start_step=0, input_context=None):
        """Infinite training batches of one input pipeline, from global step `start_step`."""
        raise NotImplementedError

    def evaluation_dataset(self, ecgs):
        """Batches of held-out `ecgs` to measure the loss on (fixed, unaugmented unless the
        objective's views are augmentations)."""
        raise NotImplementedError

    def losses_and_metrics(self, model, batch, training):
        """`(loss, pair accuracy)` of one replica's batch; the accuracy is nan where it has none.

        The loss is this replica's mean; the loop divides it by the replicas
        before gradients are summed across them.
        """
        raise NotImplementedError

    @property
    def ecgs_per_step(self):
        """ECGs the model sees per global step (for throughput)."""
        return self.config.batch_size
