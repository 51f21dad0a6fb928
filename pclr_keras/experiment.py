"""Moved to `pclr_keras.evaluation.experiment`; this path re-exports it for one release."""

from pclr_keras.evaluation.experiment import (PTBXL_TARGETS, SCRATCH, experiment_labels,
                                              representation_tables, run_experiment)

__all__ = ["PTBXL_TARGETS", "SCRATCH", "experiment_labels", "representation_tables",
           "run_experiment"]
