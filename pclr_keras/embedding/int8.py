"""`precision="int8"` for embedding: calibrate on real ECGs, quantize, check the guard.

The calibration ECGs are read as `embed` reads its inputs (a tensorized
folder, or ECG files preprocessed for the variant): by default the job's
own data. `DEFAULT_CALIBRATION_ECGS` ECGs, spread evenly over the
source, set the activation ranges; `GUARD_ECGS` others, between them, are
embedded by both the float32 encoder and the int8 one, and the cosine of
each pair is the guard (`pclr_keras.export.quantize.guard_report`).
"""

import logging
import os
import threading

import numpy as np

from pclr_keras.embedding.inputs import FileInput, TensorizedInput
from pclr_keras.embedding.runtimes import OnnxEncoder, TFLiteEncoder
from pclr_keras.export.quantize import (
    INT8_RUNTIME, guard_report, quantize_onnx, quantize_tflite, split_calibration)
from pclr_keras.ingest import list_inputs
from pclr_keras.tensorize import is_tensorized_folder

DEFAULT_CALIBRATION_ECGS = 256
GUARD_ECGS = 64

logger = logging.getLogger(__name__)


def read_ecgs(sources, variant, count):
    """Up to `count` preprocessed ECGs (float32 array) spread evenly over `sources`.

    `sources`: a tensorized folder, or ECG files and folders.
    """
    listed = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if len(listed) == 1 and is_tensorized_folder(listed[0]):
        data = TensorizedInput(listed[0], variant)
    else:
        data = FileInput([path for path, _ in list_inputs(listed)], variant, workers=1)
    try:
        positions = np.unique(np.linspace(0, data.count - 1, min(count, data.count)).astype(int))
        batches = data.batches([(0, positions)] if data.count else [], 64, threading.Event())
        found = [batch.x for batch in batches if batch.x is not None]
    finally:
        data.close()
    if not found:
        raise ValueError("int8 calibration: no ECG could be read from "
                         f"{', '.join(map(str, listed))}.")
    return np.concatenate(found)[:count].astype(np.float32, copy=False)


def int8_encoder(encoder, sources, variant, calibration_count=DEFAULT_CALIBRATION_ECGS,
                 guard_count=GUARD_ECGS, runtime=INT8_RUNTIME):
    """An int8 copy of a float32 Keras `encoder`, with its guard (`.guard`).

    Args:
        encoder: the float32 Keras encoder.
        sources: where the calibration and guard ECGs are read from.
        variant: the `EncoderVariant` they are preprocessed for.
        calibration_count, guard_count: how many ECGs calibrate and guard.
        runtime: "onnxruntime" or "tflite".
    """
    from pclr_keras.embedding.model import forward_function

    ecgs = read_ecgs(sources, variant, calibration_count + guard_count)
    calibration, guarded = split_calibration(ecgs, guard_count)
    if runtime == "tflite":
        quantized = TFLiteEncoder(quantize_tflite(encoder, calibration))
    else:
        quantized = OnnxEncoder(quantize_onnx(encoder, calibration))
    quantized.guard = {"runtime": quantized.runtime, "calibration_ecgs": int(len(calibration)),
                       **guard_report(forward_function(encoder)(guarded),
                                      quantized.forward(guarded))}
    logger.info("int8 guard: min cosine %s over %d ECGs", quantized.guard["min_cosine"],
                quantized.guard["ecgs"])
    return quantized
