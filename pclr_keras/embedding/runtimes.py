"""Encoders run from an exported file (`.onnx` or `.tflite`) rather than from Keras.

`pclr embed --model PCLR_int8.onnx` (or `.tflite`), and the int8 path of
`--precision int8`, embed through these. They offer what the embedding job
asks of an encoder: `input_shape` and `output_shape` as Keras models give
them, `forward` (a batch of preprocessed ECGs -> representations),
`digest` (the model's identity in part files: a SHA-256 of the file's
bytes), `precision` and, for a quantized model, its accuracy `guard`.
ONNX models run in ONNX Runtime (no TensorFlow imported), TFLite models in
TensorFlow's interpreter.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np

RUNTIME_SUFFIXES = (".onnx", ".tflite")


def is_runtime_artifact(model):
    """Whether `model` names a file these encoders run (by its suffix)."""
    return (isinstance(model, (str, os.PathLike))
            and Path(model).suffix.lower() in RUNTIME_SUFFIXES)


class OnnxEncoder:
    """An ONNX encoder (`ecg` -> `embed`) in ONNX Runtime, on this machine's cores.

    Args:
        model: the ONNX file's path, or its serialized bytes.
        guard: the accuracy guard of a model quantized in this process
            (`pclr_keras.export.quantize.guard_report`); default: the one
            stored in the file's metadata, if any.
    """

    runtime = "onnxruntime"

    def __init__(self, model, guard=None):
        from pclr_keras.export.onnx import read_metadata, require_onnx

        onnx, onnxruntime = require_onnx()
        content = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
        self.facts = read_metadata(onnx.load_from_string(content))
        self.digest = hashlib.sha256(content).hexdigest()
        self.precision = self.facts.get("precision", "float32")
        self.guard = guard or self.facts.get("guard")
        (signal,) = self.session.get_inputs()
        self.input_name = signal.name
        self.input_shape = (None, *signal.shape[1:])
        self.output_shape = (None, self.session.get_outputs()[0].shape[-1])

    def forward(self, x):
        """Representations (n, dim) float32 of a batch of preprocessed ECGs."""
        return self.session.run(None, {self.input_name: np.asarray(x, np.float32)})[0]


class TFLiteEncoder:
    """A TFLite encoder's `serving_default` signature (`ecg` -> `embed`), as
    `pclr export --formats tflite` writes it, in TensorFlow's interpreter."""

    runtime = "tflite"

    def __init__(self, model, guard=None):
        import tensorflow as tf

        from pclr_keras.export.serving import SERVING_SIGNATURE

        content = model if isinstance(model, bytes) else Path(model).read_bytes()
        interpreter = tf.lite.Interpreter(model_content=content, num_threads=os.cpu_count())
        self.run = interpreter.get_signature_runner(SERVING_SIGNATURE)
        self.digest = hashlib.sha256(content).hexdigest()
        details = self.run.get_input_details()["ecg"]
        self.input_shape = (None, *(int(n) for n in details["shape"][1:]))
        embed = self.run(ecg=np.zeros((1, *self.input_shape[1:]), np.float32))["embed"]
        self.output_shape = (None, embed.shape[-1])
        quantized = any(d["dtype"] == np.int8 for d in interpreter.get_tensor_details())
        self.precision = "int8" if quantized else "float32"
        self.guard = guard or _stored_guard(model)

    def forward(self, x):
        """Representations (n, dim) float32 of a batch of preprocessed ECGs."""
        return self.run(ecg=np.asarray(x, np.float32))["embed"]


def _stored_guard(model):
    """The guard `pclr export` wrote beside a TFLite int8 file, or None."""
    if isinstance(model, bytes):
        return None
    from pclr_keras.export.quantize import guard_file

    stored = guard_file(model)
    return json.loads(stored.read_text()) if stored.is_file() else None


RUNTIMES = {".onnx": OnnxEncoder, ".tflite": TFLiteEncoder}


def is_runtime_encoder(encoder):
    """Whether `encoder` runs from a file (rather than being a Keras model)."""
    return isinstance(encoder, tuple(RUNTIMES.values()))


def load_runtime_encoder(path):
    """The encoder in an `.onnx` or `.tflite` file; FileNotFoundError when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file.")
    return RUNTIMES[path.suffix.lower()](path)
