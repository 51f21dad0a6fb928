"""int8 encoders: post-training static quantization calibrated on real ECGs, and the
guard that says how far their representations moved from float32's.

Two runtimes, measured side by side (`benchmarks/bench_int8.py`):

- TFLite (`quantize_tflite`, the converter `.tflite` export already uses):
  int8 weights (per channel) and activations, ranges from the calibration
  ECGs; the first convolution and its input stay float32 through the
  converter's deny-list: it reads the signal in mV, whose rare large
  deflections leave 8 bits too coarse for the rest of the ECG (quantizing
  it too drops the lowest cosine on PTB-XL from 0.998 to 0.991-0.994).
- ONNX Runtime (`quantize_onnx`): QDQ format, int8 weights per output
  channel, uint8 activations with min-max ranges, the first convolution
  float32 likewise.

`INT8_RUNTIME`, the one `pclr embed --precision int8` runs, is TFLite: on
the AMD EPYC (AVX512_VNNI) it measured faster and closer to float32 than
ONNX Runtime int8 (docs/precision.md); ONNX stays an export format.
"""

import tempfile
from pathlib import Path

import numpy as np

from pclr_keras.export.onnx import INPUT_NAME, onnx_model, read_metadata, set_metadata

INT8_RUNTIME = "tflite"
GUARD_COSINE = 0.995
CALIBRATION_BATCH = 8


def guard_file(model_file):
    """Where a TFLite int8 model's guard is written: `NAME_int8.tflite.guard.json`."""
    return Path(model_file).with_name(f"{Path(model_file).name}.guard.json")


def cosines(reference, other):
    """Cosine of each row of `other` to the same row of `reference`."""
    reference = np.asarray(reference, np.float64)
    other = np.asarray(other, np.float64)
    norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(other, axis=1)
    return np.sum(reference * other, axis=1) / np.maximum(norms, 1e-12)


def guard_report(reference, quantized, threshold=GUARD_COSINE):
    """The accuracy guard: each ECG's cosine of int8 to float32, and whether all pass.

    Returns a dict: `ecgs`, `threshold`, `min_cosine`, `mean_cosine`,
    `below_threshold` (count), `passed`, and `cosines` (per ECG, 6 decimals).
    """
    values = cosines(reference, quantized)
    return {"ecgs": int(len(values)), "threshold": threshold,
            "min_cosine": round(float(values.min()), 6) if len(values) else None,
            "mean_cosine": round(float(values.mean()), 6) if len(values) else None,
            "below_threshold": int(np.sum(values < threshold)),
            "passed": bool(len(values)) and bool(np.all(values >= threshold)),
            "cosines": [round(float(v), 6) for v in values]}


def split_calibration(ecgs, guard_count):
    """(calibration ECGs, guard ECGs): every k-th ECG guards, the others calibrate."""
    step = max(2, len(ecgs) // max(guard_count, 1))
    guard = np.zeros(len(ecgs), bool)
    guard[step - 1::step] = True
    return ecgs[~guard], ecgs[guard][:guard_count]


def guarded_int8(encoder, ecgs, guard_count, runtime):
    """(int8 model bytes, guard): calibrated on most of `ecgs`, guarded on the rest.

    `runtime`: "tflite" or "onnxruntime". An ONNX model stores its guard
    in its metadata, so whoever embeds with the file later reports it
    (for TFLite, `export_encoder` writes it beside the file).
    """
    calibration, guarded = split_calibration(ecgs, guard_count)
    reference = encoder.predict(guarded, batch_size=32, verbose=0)
    if runtime == "tflite":
        import tensorflow as tf

        from pclr_keras.export.serving import SERVING_SIGNATURE

        content = quantize_tflite(encoder, calibration)
        run = tf.lite.Interpreter(model_content=content).get_signature_runner(SERVING_SIGNATURE)
        quantized = run(ecg=guarded)["embed"]
    else:
        import onnx
        import onnxruntime

        content = quantize_onnx(encoder, calibration)
        session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
        quantized = session.run(None, {INPUT_NAME: guarded})[0]
    guard = {"runtime": runtime, "calibration_ecgs": int(len(calibration)),
             **guard_report(reference, quantized)}
    if runtime != "tflite":
        proto = onnx.load_from_string(content)
        set_metadata(proto, {**read_metadata(proto), "guard": guard})
        content = proto.SerializeToString()
    return content, guard


def _batches(ecgs):
    """Equal calibration batches (ONNX Runtime's range collection wants one shape)."""
    usable = len(ecgs) - len(ecgs) % CALIBRATION_BATCH
    if usable == 0:
        raise ValueError(f"int8 calibration needs at least {CALIBRATION_BATCH} ECGs, "
                         f"got {len(ecgs)}.")
    return [np.ascontiguousarray(ecgs[i:i + CALIBRATION_BATCH], np.float32)
            for i in range(0, usable, CALIBRATION_BATCH)]


def quantize_onnx(encoder, calibration, metadata=None):
    """The int8 ONNX model (serialized bytes) of a float32 Keras encoder.

    Args:
        encoder: a Keras encoder ending at `embed`, computing in float32.
        calibration: float32 array (n, input_length, leads) of preprocessed
            real ECGs; activation ranges come from them.
        metadata: more facts for the model's `pclr_keras` metadata entry.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter({INPUT_NAME: batch} for batch in _batches(calibration))

        def get_next(self):
            return next(self.feeds, None)

    proto = onnx_model(encoder)
    first_conv = next(node.name for node in proto.graph.node if node.op_type == "Conv")
    with tempfile.TemporaryDirectory() as tmp:
        plain, prepared, quantized = (Path(tmp) / name for name in ("f.onnx", "p.onnx", "q.onnx"))
        onnx.save(proto, plain)
        quant_pre_process(str(plain), str(prepared), skip_symbolic_shape=True)
        # reduce_range: 7-bit weights. ONNX Runtime's x86 int8 kernels without VNNI
        # (AVX2, AVX-512 before Cascade Lake) multiply u8 by s8 pairs into saturating
        # 16-bit sums; with 8-bit weights that clipped (the tests' small encoder fell to
        # cosine 0.975 on an AMD EPYC without AVX-512), and an exported file must be
        # right on whichever CPU runs it.
        quantize_static(str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=[first_conv])
        result = onnx.load(quantized)
    set_metadata(result, {**read_metadata(proto), "precision": "int8",
                          "calibration_ecgs": int(len(calibration)), **(metadata or {})})
    return result.SerializeToString()


def quantize_tflite(encoder, calibration):
    """The int8 TFLite model (bytes) of a float32 Keras encoder, `serving_default` signature.

    Weights and activations int8 (ranges from `calibration`), except the
    first convolution and its input, which the converter's deny-list keeps
    float32 as the ONNX path does.
    """
    import tensorflow as tf

    from pclr_keras.export.artifacts import export_saved_model
    from pclr_keras.export.serving import SERVING_SIGNATURE

    def representative():
        for ecg in calibration:
            yield {INPUT_NAME: np.asarray(ecg, np.float32)[np.newaxis]}

    with tempfile.TemporaryDirectory() as tmp:
        export_saved_model(encoder, tmp)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            tmp, signature_keys=[SERVING_SIGNATURE])
        kept = _first_convolution_nodes(converter.convert())
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=representative,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_nodes=kept))
        return debugger.get_nondebug_quantized_model()


def _first_convolution_nodes(float_model):
    """Names of the float TFLite model's first convolution and the op feeding it."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=float_model)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 (the op list has no public name)
    position = next(i for i, op in enumerate(ops) if op["op_name"] == "CONV_2D")
    return [names[ops[i]["outputs"][0]] for i in (max(position - 1, 0), position)]
