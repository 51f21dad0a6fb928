"""The encoder for inference: loaded from any artifact, identified by a digest,
run through one traced forward pass, and matched to the variant its input reads."""

import hashlib
import json
import os
import weakref

import numpy as np

_FORWARD = weakref.WeakKeyDictionary()


def resolve_model(model, precision=None):
    """(encoder, description) for `--model`: a name or path is loaded by `load_encoder`.

    The one way in for the local job and Beam alike: a preset name, URL or
    file goes through `pclr_keras.weights.load.load_encoder` (which resolves
    it through `pclr_keras.weights.resolve`); a Keras model is cut at
    `embed`. `precision` (`pclr_keras.precision`): what the encoder computes
    in; None keeps a path's float32 and a model's own.
    """
    from pclr_keras.precision import with_precision
    from pclr_keras.weights.load import encoder_only, load_encoder

    if isinstance(model, (str, os.PathLike)):
        return load_encoder(model, precision=precision or "float32"), model_label(model)
    return (with_precision(encoder_only(model), precision),
            getattr(model, "name", type(model).__name__))


def model_label(model):
    """How outputs name a model given by path: its file or folder name alone.

    The folders above a model often name a project, a ward or a person, and
    `model_digest` identifies the weights anyway; a preset name or a URL
    (`hf://`, `https://`) is kept as given.
    """
    text = os.fspath(model)
    if "://" in text or not os.path.exists(text):
        return text
    return os.path.basename(os.path.normpath(text))


def model_digest(encoder):
    """sha256 of the encoder's input shape and weights: the model's identity."""
    digest = hashlib.sha256(json.dumps(list(encoder.input.shape[1:])).encode())
    for weight in encoder.weights:
        value = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def forward_function(encoder):
    """A traced inference forward pass over batches of any size (one per encoder).

    One graph for every batch size (the batch dimension is left open), so a
    short last batch does not trace again; kept per encoder, so repeated
    calls in one process trace once.
    """
    try:
        return _FORWARD[encoder]
    except (KeyError, TypeError):
        pass
    import tensorflow as tf

    length, leads = encoder.input.shape[1:]
    spec = tf.TensorSpec([None, length, leads], tf.float32)

    model = weakref.ref(encoder)  # the cache must not keep the encoder alive

    @tf.function(input_signature=[spec])
    def forward(x):
        return model()(x, training=False)

    def run(x):
        return forward(x).numpy()

    try:
        _FORWARD[encoder] = run
    except TypeError:  # not weak-referenceable: trace per call
        pass
    return run


def variant_of(encoder, variant):
    """The `EncoderVariant` the encoder reads: `variant` checked against its input
    shape, or (None) the one the shape names."""
    from pclr_keras.variants import get_variant, variant_for_input_shape

    length, leads = encoder.input.shape[1:]
    if variant is None:
        return variant_for_input_shape(length, leads)
    variant = get_variant(variant)
    if (variant.input_length, variant.num_leads) != (length, leads):
        raise ValueError(f"variant {variant.name!r} reads ({variant.input_length}, "
                         f"{variant.num_leads}); the encoder reads ({length}, {leads}).")
    return variant
