"""The PCLR encoder: the Ribeiro et al. (2020) 1-D ResNet ending at `embed`.

The graph is built with stock Keras layers only, so that any Keras program
can load a saved encoder without importing this package. Layer names, layer
order and weight order follow the models ml4h released, so released weights
copy over positionally and by name.
"""

import collections

import keras

from pclr_keras.variants import get_variant

UNIT_FILTERS = (128, 196, 256, 320)
UNIT_LENGTHS = (1024, 256, 64, 16)
STEM_FILTERS = 64
KERNEL_SIZE = 16
KERNEL_INITIALIZER = "he_normal"


class _LayerNamer:
    """Hands out names the way Keras 2 auto-named layers in a fresh session.

    ml4h's released models carry those auto-names (`conv1d`, `conv1d_1`, ...,
    in creation order); naming explicitly keeps ours identical however many
    models were built before in the same process.
    """

    def __init__(self):
        self._counts = collections.Counter()

    def __call__(self, prefix):
        count = self._counts[prefix]
        self._counts[prefix] += 1
        return prefix if count == 0 else f"{prefix}_{count}"


def apply_bn_activation(x, activation, namer, synchronized_bn):
    x = keras.layers.BatchNormalization(
        synchronized=synchronized_bn, name=namer("batch_normalization"))(x)
    return keras.layers.Activation(activation, name=namer("activation"))(x)


def apply_conv(x, filters, kernel_size, namer, strides=1):
    return keras.layers.Conv1D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        kernel_initializer=KERNEL_INITIALIZER, name=namer("conv1d"))(x)


def apply_residual_unit(x, skip, length_out, filters, *, kernel_size, dropout,
                        activation, namer, synchronized_bn):
    """One pre-activation residual unit.

    Args:
        x: the activated output of the previous unit (main path input).
        skip: the pre-activation sum of the previous unit (skip path input).
        length_out: int. Samples after this unit; the unit downsamples by
            `skip.shape[1] // length_out`, with max-pooling on the skip path
            and a strided conv on the main path.

    Returns:
        `(x, skip)` for the next unit.
    """
    downsample = skip.shape[1] // length_out
    if downsample < 1:
        raise ValueError(
            f"A residual unit cannot upsample: {skip.shape[1]} samples in, "
            f"{length_out} asked for.")
    if downsample > 1:
        skip = keras.layers.MaxPooling1D(
            downsample, strides=downsample, padding="same",
            name=namer("max_pooling1d"))(skip)
    if skip.shape[-1] != filters:
        skip = apply_conv(skip, filters, 1, namer)

    x = apply_conv(x, filters, kernel_size, namer)
    x = apply_bn_activation(x, activation, namer, synchronized_bn)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=namer("dropout"))(x)
    x = apply_conv(x, filters, kernel_size, namer, strides=downsample)
    x = keras.layers.Add(name=namer("add"))([x, skip])
    skip = x
    x = apply_bn_activation(x, activation, namer, synchronized_bn)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=namer("dropout"))(x)
    return x, skip


def build_encoder(variant="pclr", *, input_length=None, num_leads=None,
                  stem_batchnorm=None, stem_filters=STEM_FILTERS,
                  unit_filters=UNIT_FILTERS, unit_lengths=UNIT_LENGTHS,
                  kernel_size=KERNEL_SIZE, dropout=0.0, activation="relu",
                  synchronized_bn=False, name="pclr_encoder"):
    """Builds the PCLR encoder: ECG (length, leads) in mV -> `embed`.

    Args:
        variant: str. A key of `pclr_keras.VARIANTS` (`pclr`, `lead_I`,
            `lead_II`, `c3po`); it sets the input shape and the stem. Defaults
            to `"pclr"`.
        input_length, num_leads, stem_batchnorm: override the variant's
            values (small test models, new variants).
        stem_filters: int. Filters of the stem conv. Defaults to 64.
        unit_filters: tuple of int. Filters of the four residual units;
            the last is the size of the representation. Defaults to
            (128, 196, 256, 320).
        unit_lengths: tuple of int. Target length after each unit.
            Defaults to (1024, 256, 64, 16).
        kernel_size: int. Defaults to 16.
        dropout: float. Dropout after each activation of the units; the
            released encoders use 0 (no Dropout layer at all).
        activation: str. Defaults to `"relu"` (`"swish"` for the auto-encoder).
        synchronized_bn: bool. Synchronise batch statistics across replicas
            (distributed pre-training). Weights are the same either way.
        name: str. Model name.

    Returns:
        A functional `keras.Model` with input `ecg` and output `embed`.

    Examples:
    >>> encoder = build_encoder("pclr")
    >>> encoder.output_shape
    (None, 320)
    """
    spec = get_variant(variant)
    input_length = input_length or spec.input_length
    num_leads = num_leads or spec.num_leads
    stem_batchnorm = spec.stem_batchnorm if stem_batchnorm is None else stem_batchnorm
    if len(unit_filters) != len(unit_lengths):
        raise ValueError("unit_filters and unit_lengths must have the same length.")

    namer = _LayerNamer()
    ecg = keras.Input((input_length, num_leads), dtype="float32", name="ecg")
    x = apply_conv(ecg, stem_filters, kernel_size, namer)
    if stem_batchnorm:
        x = apply_bn_activation(x, activation, namer, synchronized_bn)
    else:
        x = keras.layers.Activation(activation, name=namer("activation"))(x)
    skip = x
    for filters, length in zip(unit_filters, unit_lengths):
        x, skip = apply_residual_unit(
            x, skip, length, filters, kernel_size=kernel_size, dropout=dropout,
            activation=activation, namer=namer, synchronized_bn=synchronized_bn)
    embed = keras.layers.GlobalAveragePooling1D(name="embed")(x)
    return keras.Model(ecg, embed, name=name)
