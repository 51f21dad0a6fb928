"""Moved to `pclr_keras.training.scratch`; this path re-exports it for one release."""

from pclr_keras.training.scratch import ScratchBaseline, ScratchConfig, build_scratch_model

__all__ = ["ScratchBaseline", "ScratchConfig", "build_scratch_model"]
