"""Moved to `pclr_keras.evaluation.features`; this path re-exports it for one release."""

from pclr_keras.evaluation.features import (AMPLITUDE_STATS, BANDS_HZ, BEAT_STATS,
                                            RHYTHM_FEATURES, detect_qrs, feature_names,
                                            handcrafted_features, handcrafted_from_tensors,
                                            r_peaks)

__all__ = ["AMPLITUDE_STATS", "BANDS_HZ", "BEAT_STATS", "RHYTHM_FEATURES", "detect_qrs",
           "feature_names", "handcrafted_features", "handcrafted_from_tensors", "r_peaks"]
