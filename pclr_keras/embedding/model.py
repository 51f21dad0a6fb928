"""The encoder for inference: loaded from any artifact, identified by a digest,
run through one traced forward pass, and matched to the variant its input reads.

An encoder is a Keras model, or one run from an `.onnx` / `.tflite` file
(`pclr_keras.embedding.runtimes`, also what `precision="int8"` gives): the
functions below take either.
"""

import hashlib
import json
import logging
import os
import weakref

import numpy as np

from pclr_keras.embedding.runtimes import (
    is_runtime_artifact, is_runtime_encoder, load_runtime_encoder)
from pclr_keras.precision import INT8, auto_precision, check_precision, compute_precision

_FORWARD = weakref.WeakKeyDictionary()

logger = logging.getLogger(__name__)


def resolve_model(model, precision=None, calibration=None):
    """(encoder, description) for `--model`: a name or path is loaded by `load_encoder`.

    The one way in for the local job and Beam alike: a preset name, URL or
    file goes through `pclr_keras.weights.load.load_encoder` (which resolves
    it through `pclr_keras.weights.resolve`); a Keras model is cut at
    `embed`; an `.onnx` or `.tflite` file runs as it was exported.
    `precision` (`pclr_keras.precision`, `int8` included): what the encoder
    computes in; None keeps a path's float32 and a model's own. int8 (and
    `auto` where it picks int8) quantizes on ECGs read from `calibration`
    (`pclr_keras.embedding.int8`); `auto` falls back to float32 when the
    accuracy guard fails, an explicit int8 raises ValueError.
    """
    if is_runtime_artifact(model):
        if precision not in (None, "float32", "auto", INT8):
            raise ValueError(f"{model_label(model)} computes as it was exported; --precision "
                             f"{precision} applies to Keras models.")
        return load_runtime_encoder(model), model_label(model)
    description = model_label(model) if isinstance(model, (str, os.PathLike)) else \
        getattr(model, "name", type(model).__name__)
    chosen, why = _chosen(precision)
    if chosen != INT8:
        return _keras_encoder(model, chosen), description
    if calibration is None:
        raise ValueError("precision int8 needs ECGs to calibrate on (calibration=...).")
    from pclr_keras.embedding.int8 import int8_encoder

    encoder = _keras_encoder(model, "float32")
    quantized = int8_encoder(encoder, calibration, variant_of(encoder, None))
    if quantized.guard["passed"]:
        return quantized, description
    problem = (f"int8 accuracy guard failed: lowest cosine to float32 "
               f"{quantized.guard['min_cosine']} < {quantized.guard['threshold']} on "
               f"{quantized.guard['ecgs']} ECGs")
    if precision == INT8:
        raise ValueError(f"{problem}; embed in float32 (or bfloat16) instead.")
    logger.warning("precision auto: %s; float32 instead (%s)", problem, why)
    return encoder, description


def _chosen(precision):
    """(precision, why) an embedding job runs in: `auto` decided for inference."""
    if precision is None or check_precision(precision, inference=True) != "auto":
        return precision, "asked for"
    return auto_precision(inference=True)


def _keras_encoder(model, precision):
    """A Keras encoder from a path (`load_encoder`) or a model, computing in `precision`."""
    from pclr_keras.precision import with_precision
    from pclr_keras.weights.load import encoder_only, load_encoder

    if isinstance(model, (str, os.PathLike)):
        return load_encoder(model, precision=precision or "float32")
    return with_precision(encoder_only(model), precision)


def model_precision(encoder):
    """What an encoder computes in: `int8` for a quantized one, else its Keras precision."""
    return encoder.precision if is_runtime_encoder(encoder) else compute_precision(encoder)


def embedding_dim(encoder):
    """The size of an encoder's representation."""
    return int(encoder.output_shape[-1])


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
    """sha256 of the encoder's input shape and weights (of a model run from a file: of
    the file): the model's identity."""
    if is_runtime_encoder(encoder):
        return encoder.digest
    digest = hashlib.sha256(json.dumps(list(encoder.input_shape[1:])).encode())
    for weight in encoder.weights:
        value = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def forward_function(encoder):
    """A traced inference forward pass over batches of any size (one per encoder).

    One graph for every batch size (the batch dimension is left open), so a
    short last batch does not trace again; kept per encoder, so repeated
    calls in one process trace once. A model run from a file has its own.
    """
    if is_runtime_encoder(encoder):
        return encoder.forward
    try:
        return _FORWARD[encoder]
    except (KeyError, TypeError):
        pass
    import tensorflow as tf

    length, leads = encoder.input_shape[1:]
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

    length, leads = encoder.input_shape[1:]
    if variant is None:
        return variant_for_input_shape(length, leads)
    variant = get_variant(variant)
    if (variant.input_length, variant.num_leads) != (length, leads):
        raise ValueError(f"variant {variant.name!r} reads ({variant.input_length}, "
                         f"{variant.num_leads}); the encoder reads ({length}, {leads}).")
    return variant
