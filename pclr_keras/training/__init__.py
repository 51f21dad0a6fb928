"""Pre-training and the training that starts from a pre-trained encoder.

`tensors` (a tensorized folder, read lazily) -> `plans` (which ECGs make a
step) -> `pipeline`, `views`, `labelled` (tf.data) -> `objectives/` (one per
objective: model, batches, loss and metrics) -> `config`, `loop` (the
distributed loop, checkpoints, export). `finetune` and `scratch` train task
models with plain `model.fit`.

The loop's names are imported on first use, so that reading a tensorized
folder (`pclr_keras.training.tensors`) does not build the loop's imports.
"""

import importlib

_EXPORTS = {
    "pclr_keras.training.config": ("OPTIMIZERS", "PretrainConfig"),
    "pclr_keras.training.loop": ("Pretrainer", "build_training_model"),
    "pclr_keras.training.objectives": ("CONTRASTIVE", "OBJECTIVES"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'pclr_keras.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULE_OF[name]), name)


def __dir__():
    return __all__
