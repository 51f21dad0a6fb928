"""ml4h's `build_model` API (PCLR and its baselines) on top of `pclr_keras`.

Upstream scripts that do `from build_model import PCLR_model` keep working:
each function returns a compiled, untrained Keras 3 model with ml4h's
hyper-parameters. The architecture lives in `pclr_keras.models`.
"""

import keras

from pclr_keras import simclr_accuracy, simclr_loss
from pclr_keras.models import (
    RIBEIRO_TARGETS,
    build_autoencoder,
    build_encoder,
    build_pretraining_model,
    build_ribeiro_classifier,
)


def get_model(projection_layer_shapes, dropout=0.2, ecg_len=4096, activation="relu",
              num_channels=12):
    """Encoder + Dense head with ml4h's signature: `embed`, then `projection_*`."""
    encoder = build_encoder(
        "pclr", input_length=ecg_len, num_leads=num_channels, stem_batchnorm=True,
        dropout=dropout, activation=activation)
    name = f"ribeiro_{activation}_{'_'.join(map(str, projection_layer_shapes))}"
    return build_pretraining_model(encoder, tuple(projection_layer_shapes), name=name)


def _contrastive_model(learning_rate):
    model = get_model([320, 320], dropout=0.0, ecg_len=4096, activation="relu", num_channels=12)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=simclr_loss,
                  metrics=[simclr_accuracy])
    return model


def PCLR_model():
    """The PCLR pre-training model, compiled as in the paper (Adam 1e-1)."""
    return _contrastive_model(1e-1)


def CLOCS_model():
    """The CLOCS comparison model: same network, Adam 1e-2."""
    return _contrastive_model(1e-2)


def CAE_model():
    """The convolutional auto-encoder baseline, log-cosh loss, Adam 1e-4."""
    model = build_autoencoder("pclr")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=keras.losses.log_cosh,
                  metrics=["mse"])
    return model


def ribeiro_r_model():
    """The supervised baseline with ml4h's six heads, Adam 1e-2."""
    model = build_ribeiro_classifier("pclr")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=["categorical_crossentropy"] * len(RIBEIRO_TARGETS),
        metrics=[["categorical_accuracy"]] * len(RIBEIRO_TARGETS),
    )
    return model
