"""Keras model builders: the PCLR encoder and the models built on it."""

from pclr_keras.models.encoder import build_encoder
from pclr_keras.models.heads import (
    RIBEIRO_TARGETS,
    build_autoencoder,
    build_pretraining_model,
    build_ribeiro_classifier,
)

__all__ = ["RIBEIRO_TARGETS", "build_autoencoder", "build_encoder",
           "build_pretraining_model", "build_ribeiro_classifier"]
