"""Moved to `pclr_keras.weights.upstream`; this path re-exports it for one release."""

from pclr_keras.weights.upstream import LFS_POINTER_PREFIX, load_upstream

__all__ = ["LFS_POINTER_PREFIX", "load_upstream"]
