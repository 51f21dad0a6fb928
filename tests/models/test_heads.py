"""The models built on the encoder: ml4h's projection head and its baselines."""

import pytest

from conftest import SMALL_ENCODER
from pclr_keras.models import (
    build_autoencoder,
    build_encoder,
    build_pretraining_model,
    build_ribeiro_classifier,
)


def test_pretraining_model_shares_encoder_and_adds_ml4h_head():
    encoder = build_encoder("pclr")
    model = build_pretraining_model(encoder)
    assert [layer.name for layer in model.layers[-3:]] == ["embed", "projection_0", "projection"]
    assert model.get_layer("projection_0").get_config()["activation"] == "relu"
    assert model.get_layer("projection").get_config()["activation"] == "linear"
    assert model.output.shape[1:] == (320,)
    assert model.get_layer("conv1d") is encoder.get_layer("conv1d")
    assert model.count_params() == 6_394_912 + 320 * 321 * 2


def test_autoencoder_reconstructs_input_shape_with_swish():
    model = build_autoencoder("pclr", decoder_filters=(8, 8, 8, 8), **SMALL_ENCODER)
    assert model.output.shape[1:] == (256, 12)
    assert model.get_layer("ecg_out").get_config()["kernel_size"] == (1,)
    activations = {layer.get_config()["activation"] for layer in model.layers
                   if type(layer).__name__ == "Activation"}
    assert activations == {"silu"}  # Keras 3 stores swish under its other name
    assert model.get_layer("embed").output.shape[1:] == (16,)


def test_full_size_autoencoder_mirrors_ml4h():
    model = build_autoencoder("pclr")
    assert model.output.shape[1:] == (4096, 12)
    assert model.get_layer("bottleneck_reshape").output.shape[1:] == (16, 320)
    transposed = [layer.get_config()["filters"] for layer in model.layers
                  if type(layer).__name__ == "Conv1DTranspose"]
    assert transposed == [256, 196, 128, 64]


def test_autoencoder_rejects_length_it_cannot_rebuild():
    with pytest.raises(ValueError, match="divisible by 256"):
        build_autoencoder("c3po")


def test_ribeiro_classifier_has_six_sigmoid_heads_and_dropout():
    model = build_ribeiro_classifier("pclr", **SMALL_ENCODER)
    assert model.output_names == ["rbbb", "lbbb", "avb", "af", "sb", "st"]
    assert all(out.shape[1:] == (2,) for out in model.outputs)
    dropouts = [layer.get_config()["rate"] for layer in model.layers
                if type(layer).__name__ == "Dropout"]
    assert dropouts == [0.2] * 8
