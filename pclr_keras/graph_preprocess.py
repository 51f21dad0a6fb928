"""Moved to `pclr_keras.export.graph_preprocess`; this path re-exports it for one release."""

from pclr_keras.export.graph_preprocess import preprocess_raw, resample_rows

__all__ = ["preprocess_raw", "resample_rows"]
