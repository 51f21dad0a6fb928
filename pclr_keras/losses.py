"""Moved to `pclr_keras.training.losses`; this path re-exports it for one release."""

from pclr_keras.training.losses import (
    TEMPERATURE,
    contrastive_logits,
    nt_xent,
    nt_xent_and_pair_accuracy,
    pair_accuracy,
    simclr_accuracy,
    simclr_loss,
)

__all__ = [
    "TEMPERATURE", "contrastive_logits", "nt_xent", "nt_xent_and_pair_accuracy",
    "pair_accuracy", "simclr_accuracy", "simclr_loss"
]
