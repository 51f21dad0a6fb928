"""Models built on the encoder: the pre-training model and ml4h's baselines.

Each builder takes an encoder (or builds one) and adds stock Keras layers on
its `embed` output, so the whole model stays one flat functional graph with
the encoder's layers and weights shared, as in ml4h's released `PCLR.h5`.
"""

import keras

from pclr_keras.models.encoder import KERNEL_INITIALIZER, build_encoder

PROJECTION_DIMS = (320, 320)
RIBEIRO_TARGETS = ("rbbb", "lbbb", "avb", "af", "sb", "st")
DECODER_FILTERS = (256, 196, 128, 64)
DECODER_UPSAMPLE = 4


def build_pretraining_model(encoder, projection_dims=PROJECTION_DIMS, name="pclr_pretraining"):
    """Encoder + projection head, the model the contrastive loss trains.

    The head is ml4h's: `Dense(320, relu)` named `projection_0`, then a linear
    `Dense(320)` named `projection`. Representations are read from the
    encoder's `embed`, never from the head.

    Args:
        encoder: a `keras.Model` from `build_encoder` (weights are shared).
        projection_dims: tuple of int. Sizes of the head's Dense layers;
            all but the last use relu.
        name: str. Model name.

    Returns:
        A `keras.Model` from `ecg` to `projection`.
    """
    x = encoder.output
    for i, units in enumerate(projection_dims[:-1]):
        x = keras.layers.Dense(
            units, activation="relu", kernel_initializer=KERNEL_INITIALIZER,
            name=f"projection_{i}")(x)
    x = keras.layers.Dense(
        projection_dims[-1], kernel_initializer=KERNEL_INITIALIZER,
        name="projection")(x)
    return keras.Model(encoder.input, x, name=name)


def build_autoencoder(variant="pclr", decoder_filters=DECODER_FILTERS, **encoder_kwargs):
    """The convolutional auto-encoder ml4h compares PCLR against.

    A swish encoder, `Dense` from `embed` to a (length, channels) bottleneck,
    then transposed convolutions that each upsample by 4 back to the input
    length, and a 1x1 conv `ecg_out` to the input's leads. Train it with
    `keras.losses.log_cosh` against its own input.

    Args:
        variant: str. Encoder variant; the input length must be a multiple of
            4 ** len(decoder_filters).
        decoder_filters: tuple of int. Filters of the upsampling blocks.
        **encoder_kwargs: passed to `build_encoder` (e.g. small test sizes).

    Returns:
        A `keras.Model` from `ecg` to `ecg_out`, same shape as its input.
    """
    encoder_kwargs.setdefault("activation", "swish")
    encoder = build_encoder(variant, name="cae", **encoder_kwargs)
    length, leads = encoder.input.shape[1:]
    upsample_total = DECODER_UPSAMPLE ** len(decoder_filters)
    if length % upsample_total:
        raise ValueError(
            f"The auto-encoder needs an input length divisible by {upsample_total}, "
            f"got {length}.")
    bottleneck = (length // upsample_total, encoder.output.shape[-1])
    x = keras.layers.Dense(bottleneck[0] * bottleneck[1], name="bottleneck")(encoder.output)
    x = keras.layers.Reshape(bottleneck, name="bottleneck_reshape")(x)
    for i, filters in enumerate(decoder_filters):
        x = keras.layers.Conv1DTranspose(
            filters, 16, strides=DECODER_UPSAMPLE, padding="same",
            name=f"decoder_conv_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"decoder_bn_{i}")(x)
        x = keras.layers.Activation(encoder_kwargs["activation"], name=f"decoder_act_{i}")(x)
    x = keras.layers.Conv1D(leads, 1, padding="same", name="ecg_out")(x)
    return keras.Model(encoder.input, x, name="pclr_autoencoder")


def build_ribeiro_classifier(variant="pclr", targets=RIBEIRO_TARGETS, dropout=0.2,
                             **encoder_kwargs):
    """The supervised baseline: the same ResNet trained on labels from scratch.

    As in ml4h (after Ribeiro et al. 2020): dropout 0.2 in the residual units
    and one `Dense(2, sigmoid)` head per target on `embed`, each trained with
    categorical cross-entropy on one-hot labels.

    Args:
        variant: str. Encoder variant.
        targets: tuple of str. One output per target, named after it.
        dropout: float. Dropout in the residual units.
        **encoder_kwargs: passed to `build_encoder`.

    Returns:
        A `keras.Model` with one output per target.
    """
    encoder = build_encoder(variant, dropout=dropout, name="ribeiro", **encoder_kwargs)
    outputs = [
        keras.layers.Dense(2, activation="sigmoid", name=target)(encoder.output)
        for target in targets
    ]
    return keras.Model(encoder.input, outputs, name="ribeiro_classifier")
