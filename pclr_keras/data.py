"""Moved to `pclr_keras.training` (tensors, pairs, labelled); this path re-exports it for one release."""

from pclr_keras.training.labelled import labelled_dataset
from pclr_keras.training.pairs import (
    PRETRAINING_OBJECTIVES,
    check_one_ecg_patients,
    pretraining_dataset,
    steps_per_epoch,
)
from pclr_keras.training.tensors import TensorizedECGs

__all__ = [
    "labelled_dataset", "PRETRAINING_OBJECTIVES", "check_one_ecg_patients",
    "pretraining_dataset", "steps_per_epoch", "TensorizedECGs"
]
