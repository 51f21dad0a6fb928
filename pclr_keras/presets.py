"""Moved to `pclr_keras.weights.presets` and `pclr_keras.weights.resolve`; this path re-exports them for one release."""

from pclr_keras.weights.presets import (
    ALIASES, ML4H_CODE_LICENCE, ML4H_DATA, ML4H_WEIGHTS_LICENCE, OUR_CODE_LICENCE,
    OUR_WEIGHTS_LICENCE, PRESETS, PTBXL_DATA, WEIGHTS_DIR, Preset, PresetFile, get_preset,
    preset_table)
from pclr_keras.weights.resolve import (
    CACHE_ENV, HF_PREFIX, OFFLINE_ENV, PresetUnavailableError, cache_root, describe_preset,
    hub_path, preset_path, url_path, weights_sha256)
from pclr_keras.weights.resolve import resolve_path as resolve_model

__all__ = [
    "ALIASES", "CACHE_ENV", "HF_PREFIX", "ML4H_CODE_LICENCE", "ML4H_DATA",
    "ML4H_WEIGHTS_LICENCE", "OFFLINE_ENV", "OUR_CODE_LICENCE", "OUR_WEIGHTS_LICENCE", "PRESETS",
    "PTBXL_DATA", "Preset", "PresetFile", "PresetUnavailableError", "WEIGHTS_DIR", "cache_root",
    "describe_preset", "get_preset", "hub_path", "preset_path", "preset_table", "resolve_model",
    "url_path", "weights_sha256"]
