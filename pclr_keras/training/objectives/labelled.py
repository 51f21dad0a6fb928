"""The shared half of the objectives that train on single ECGs (ml4h's baselines).

Their batches are shuffled ECGs (`labelled.labelled_dataset`), with the
objective's label columns as one-hot targets where it has any; there is no
pair accuracy to report.
"""

from pclr_keras.training.labelled import labelled_dataset
from pclr_keras.training.objectives.base import Objective
from pclr_keras.training.plans import SHUFFLED_ECGS


class LabelledObjective(Objective):
    """An objective trained on batches of single ECGs and their `targets`."""

    sampling = SHUFFLED_ECGS

    @property
    def targets(self):
        """The binary label columns the batches carry (none: `x` alone)."""
        return ()

    def dataset(self, ecgs, start_step=0, input_context=None):
        return labelled_dataset(ecgs, self.config.batch_size, targets=self.targets,
                                seed=self.config.seed, start_step=start_step,
                                input_context=input_context)

    def evaluation_dataset(self, ecgs):
        return labelled_dataset(ecgs, self.config.batch_size, targets=self.targets,
                                shuffle=False)
