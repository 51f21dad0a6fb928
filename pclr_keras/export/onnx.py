"""An encoder as an ONNX file, for hosts that run ONNX Runtime and no TensorFlow.

The ONNX graph is the `serving_default` signature of the SavedModel
`pclr export` writes: input `ecg` float32 (batch, input_length, leads),
already preprocessed (`pclr_keras.preprocess.preprocess_ecg`, numpy only), ->
output `embed` float32 (batch, 320). The batch axis is named `batch` and
left open. `embed_raw` is not converted: its in-graph preprocessing
(resampling to a rate read from the request, per-ECG checks that reject
with an error) has data-dependent shapes and assertions ONNX has no
operators for; ONNX users preprocess with `preprocess_ecg`, which imports
no TensorFlow. The converter is tf2onnx, from the optional `onnx` extra,
imported only here and only when called.
"""

import json
from pathlib import Path

from pclr_keras import __version__

ONNX_MISSING = ("ONNX export and int8 need tf2onnx, onnx and onnxruntime, which are not "
                "installed: pip install 'pclr-keras[onnx]'")
ONNX_OPSET = 17
INPUT_NAME = "ecg"
OUTPUT_NAME = "embed"
BATCH_AXIS = "batch"
METADATA_KEY = "pclr_keras"


class OnnxMissing(ImportError):
    """ONNX export or int8 was asked for, but the `onnx` extra is not installed."""


def require_onnx():
    """Imports `onnx` and `onnxruntime`, or raises `OnnxMissing` naming the extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise OnnxMissing(ONNX_MISSING) from error
    return onnx, onnxruntime


def onnx_model(encoder, metadata=None):
    """The float32 `onnx.ModelProto` of a Keras encoder: `ecg` -> `embed`.

    Args:
        encoder: a Keras encoder ending at `embed`, computing in float32.
        metadata: dict stored as JSON in the model's `pclr_keras` metadata
            entry, beside the variant shape and the package version.
    """
    require_onnx()
    try:
        import tf2onnx
    except ImportError as error:
        raise OnnxMissing(ONNX_MISSING) from error
    import tensorflow as tf

    length, leads = encoder.input_shape[1:]
    spec = (tf.TensorSpec([None, length, leads], tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serving(ecg):
        return {OUTPUT_NAME: encoder(ecg, training=False)}

    proto, _ = tf2onnx.convert.from_function(serving, input_signature=spec, opset=ONNX_OPSET)
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_AXIS
    set_metadata(proto, {"precision": "float32", "input_shape": [length, leads],
                         "output_dim": int(encoder.output_shape[-1]), **(metadata or {})})
    return proto


def set_metadata(proto, facts):
    """Stores `facts` (with the package version) as the model's `pclr_keras` metadata."""
    entries = {entry.key: entry for entry in proto.metadata_props}
    entry = entries.get(METADATA_KEY) or proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps({"pclr_keras_version": __version__, **facts})


def read_metadata(proto):
    """The `pclr_keras` metadata of an ONNX model (a dict; {} for a foreign model)."""
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    return {}


def export_onnx(encoder, path, metadata=None):
    """Writes `encoder` as an ONNX file at `path` (see `onnx_model`); returns the Path."""
    path = Path(path)
    path.write_bytes(onnx_model(encoder, metadata).SerializeToString())
    return path
