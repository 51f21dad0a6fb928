"""pclr-keras: Patient Contrastive Learning of Representations for ECGs, in Keras 3.

Public names are imported on first use, so that the numpy-only parts
(`pclr_keras.preprocess`, `pclr_keras.io`) load without TensorFlow, e.g. in
the worker processes of a bulk job.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "pclr_keras.variants": ("STANDARD_LEADS", "VARIANTS", "get_variant"),
    "pclr_keras.preprocess": ("ECGValidationError", "preprocess_batch", "preprocess_ecg"),
    "pclr_keras.io": ("ECGReadError", "ECGRecord", "read_wfdb"),
    "pclr_keras.models": ("RIBEIRO_TARGETS", "build_autoencoder", "build_encoder",
                          "build_pretraining_model", "build_ribeiro_classifier"),
    "pclr_keras.training.losses": ("nt_xent", "pair_accuracy", "simclr_accuracy", "simclr_loss"),
    "pclr_keras.weights.upstream": ("load_upstream",),
    "pclr_keras.export.artifacts": ("export_encoder", "save_preset"),
    "pclr_keras.weights.load": ("load_encoder",),
    "pclr_keras.weights.presets": ("ALIASES", "PRESETS"),
    "pclr_keras.tensorize": ("tensorize",),
    "pclr_keras.training.tensors": ("TensorizedECGs",),
    "pclr_keras.training": ("PretrainConfig", "Pretrainer"),
    "pclr_keras.embedding": ("embed",),
    "pclr_keras.evaluation.probe": ("probe",),
    "pclr_keras.evaluation.retrieval": ("retrieval",),
    "pclr_keras.training.finetune": ("FinetuneConfig", "finetune"),
    "pclr_keras.training.scratch": ("ScratchBaseline", "ScratchConfig"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'pclr_keras' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)


def __dir__():
    return __all__ + ["__version__"]
