"""Moved to `pclr_keras.training.augment`; this path re-exports it for one release."""

from pclr_keras.training.augment import (
    MASKED_LEAD_SETS,
    AugmentConfig,
    augment_batch,
    example_seeds,
    lead_set_masks,
    mask_leads,
)

__all__ = [
    "MASKED_LEAD_SETS", "AugmentConfig", "augment_batch", "example_seeds", "lead_set_masks",
    "mask_leads"
]
