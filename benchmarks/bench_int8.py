"""int8 and ONNX Runtime against TensorFlow float32, model alone and end to end, one run.

Model alone, on the same N ECGs in memory, batches of 64, each time the
median of `--repeats` passes (a warm-up pass first):

- TensorFlow float32 (the traced forward pass `pclr embed` runs): the baseline;
- TensorFlow bfloat16 (`--precision bfloat16`), for the `auto` rule;
- ONNX Runtime float32 (`pclr export --formats onnx`);
- ONNX Runtime int8 (QDQ, per-channel weights, `pclr export --precision int8`);
- TFLite int8 (the converter `.tflite` export uses, same calibration).

Both int8 models are calibrated on the same 256 ECGs of the folder; each
way's lowest cosine to float32 over the N ECGs is printed beside its speed.
End to end, `pclr embed` from the tensorized folder (read HDF5, forward
pass, write Parquet), once each: `--precision float32`, `--precision int8`
(TFLite, calibration and guard included), and `--model NAME_int8.tflite`
/ `NAME_int8.onnx` (the quantized files exported once, the way to embed an
archive). The CPU's
instruction sets that decide `auto` are printed first.

    pclr tensorize --data ../shared/data/ptbxl/records100/00000 --out /tmp/ptbxl_t
    python benchmarks/bench_int8.py --data /tmp/ptbxl_t [--ecgs 384] [--repeats 3]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

FLAGS = ("avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")


def cpu_line():
    """The CPU's name and which of `FLAGS` it reports."""
    from pclr_keras.precision import auto_precision, cpu_flags

    text = Path("/proc/cpuinfo").read_text()
    name = next((line.partition(":")[2].strip() for line in text.splitlines()
                 if line.startswith("model name")), "unknown CPU")
    found = cpu_flags(FLAGS)
    chosen, why = auto_precision(gpus=[], inference=True)
    return (f"CPU: {name}; reports {', '.join(found) or 'none'} of {', '.join(FLAGS)}\n"
            f"precision auto for embedding here: {chosen} ({why})")


def median_rate(forward, x, repeats, batch=64):
    """ECGs per second of `forward` over `x` in batches: median of `repeats` passes."""
    forward(x[:batch])
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        for start in range(0, len(x), batch):
            forward(x[start:start + batch])
        times.append(time.perf_counter() - began)
    return len(x) / statistics.median(times)


def model_alone(model, x, calibration, repeats):
    """{way: (ECGs/s, lowest cosine to float32)} for the five ways."""
    from pclr_keras.embedding.model import forward_function
    from pclr_keras.embedding.runtimes import OnnxEncoder, TFLiteEncoder
    from pclr_keras.export.onnx import onnx_model
    from pclr_keras.export.quantize import cosines, quantize_onnx, quantize_tflite
    from pclr_keras.weights.load import load_encoder

    encoder = load_encoder(model)
    bfloat16 = load_encoder(model, precision="bfloat16")  # kept alive: the forward pass
    ways = {"TensorFlow float32": forward_function(encoder),  # holds it weakly
            "TensorFlow bfloat16": forward_function(bfloat16),
            "ONNX Runtime float32": OnnxEncoder(onnx_model(encoder).SerializeToString()).forward,
            "ONNX Runtime int8": OnnxEncoder(quantize_onnx(encoder, calibration)).forward,
            "TFLite int8": TFLiteEncoder(quantize_tflite(encoder, calibration)).forward}
    reference = ways["TensorFlow float32"](x)
    rates = {}
    for name, forward in ways.items():
        lowest = cosines(reference, np.concatenate(
            [forward(x[i:i + 64]) for i in range(0, len(x), 64)])).min()
        rates[name] = (median_rate(forward, x, repeats), float(lowest))
    return rates


def end_to_end(model, folder, work):
    """{way: ECGs/s} of `pclr embed` from the tensorized folder, once each."""
    from pclr_keras.cli import main as pclr_main
    from pclr_keras.embedding import embed

    pclr_main(["export", "--model", model, "--out", str(work / "int8"), "--formats",
               "tflite,onnx", "--precision", "int8", "--calibration", str(folder)])
    runs = {"embed --precision float32": dict(model=model, precision="float32"),
            "embed --precision int8 (calibrates first)": dict(model=model, precision="int8"),
            "embed --model PCLR_int8.tflite": dict(model=str(work / "int8" / "PCLR_int8.tflite")),
            "embed --model PCLR_int8.onnx": dict(model=str(work / "int8" / "PCLR_int8.onnx"))}
    rates = {}
    for k, (name, options) in enumerate(runs.items()):
        summary = embed(options.pop("model"), folder, work / f"e{k}.parquet", progress=False,
                        **options)
        rates[name] = summary["ecgs_found"] / summary["seconds"]
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a `pclr tensorize` folder")
    parser.add_argument("--model", default="pclr-ptbxl-v0.3")
    parser.add_argument("--ecgs", type=int, default=384, help="ECGs timed, model alone")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from pclr_keras.embedding.int8 import DEFAULT_CALIBRATION_ECGS, read_ecgs
    from pclr_keras.variants import get_variant

    print(cpu_line())
    variant = get_variant("pclr")
    x = read_ecgs(args.data, variant, args.ecgs)
    calibration = read_ecgs(args.data, variant, DEFAULT_CALIBRATION_ECGS)
    alone = model_alone(args.model, x, calibration, args.repeats)
    base = alone["TensorFlow float32"][0]
    print(f"\nModel alone, {len(x)} ECGs, batches of 64, median of {args.repeats}\n")
    print("| way | ECGs/s | vs TensorFlow float32 | lowest cosine to float32 |")
    print("|---|--:|--:|--:|")
    for name, (rate, lowest) in alone.items():
        print(f"| {name} | {rate:.1f} | {rate / base:.2f}x | {lowest:.5f} |")
    with tempfile.TemporaryDirectory() as work:
        whole = end_to_end(args.model, args.data, Path(work))
    base = whole["embed --precision float32"]
    print("\nEnd to end, `pclr embed` from the tensorized folder, once each\n")
    print("| way | ECGs/s | vs float32 |")
    print("|---|--:|--:|")
    for name, rate in whole.items():
        print(f"| {name} | {rate:.1f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
