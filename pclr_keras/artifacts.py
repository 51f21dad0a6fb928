"""Moved to `pclr_keras.export.artifacts` (writing) and `pclr_keras.weights.load` (reading); this path re-exports them for one release."""

from pclr_keras.export.artifacts import (
    DEFAULT_FORMATS, FORMATS, export_encoder, export_saved_model, export_tflite, save_preset,
    serving_variant)
from pclr_keras.weights.load import encoder_only, is_preset_folder, load_encoder
from pclr_keras.weights.presets import PRESET_CARD, PRESET_CONFIG, PRESET_METADATA, PRESET_WEIGHTS

__all__ = [
    "DEFAULT_FORMATS", "FORMATS", "PRESET_CARD", "PRESET_CONFIG", "PRESET_METADATA",
    "PRESET_WEIGHTS", "encoder_only", "export_encoder", "export_saved_model", "export_tflite",
    "is_preset_folder", "load_encoder", "save_preset", "serving_variant"]
