"""`pclr export`: an encoder written as .h5, .keras, TF Serving SavedModels, TFLite and ONNX."""

import argparse

from pclr_keras.cli.arguments import add_precision_argument, chosen_precision
from pclr_keras.cli.exits import usage


def add_arguments(commands):
    """`pclr export` and its flags."""
    from pclr_keras.variants import VARIANTS

    export = commands.add_parser(
        "export", help="write an encoder as .h5, .keras and a TF Serving SavedModel")
    export.add_argument("--model", help="model to export: a preset name, ours (.h5/.keras) "
                        "or ml4h's (PCLR.h5, a SavedModel folder)")
    export.add_argument("--weights", dest="model", help=argparse.SUPPRESS)  # earlier name
    export.add_argument("--untrained", action="store_true",
                        help="export a randomly initialised encoder instead")
    export.add_argument("--variant", default="pclr", choices=sorted(VARIANTS),
                        help="variant to build with --untrained")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--name", default="PCLR", help="artifact base name")
    export.add_argument("--version", type=int, default=1, help="TF Serving version")
    export.add_argument("--formats", default="h5,keras,savedmodel",
                        help="comma-separated: h5, keras, savedmodel, tflite, onnx (onnx needs "
                             "pip install 'pclr-keras[onnx]')")
    add_precision_argument(export, inference=True,
                           help="also write the SavedModel computing in bfloat16 "
                           "(NAME_bf16/VERSION/) or float16 (NAME_fp16/), or int8 "
                           "NAME_int8.tflite / NAME_int8.onnx for the tflite / onnx formats "
                           "(needs --calibration); auto: bfloat16 where this machine has it "
                           "(default: float32 only)")
    export.add_argument("--leads", help="the leads the SavedModels' embed_raw signature takes, "
                        "a set name or a comma list (e.g. I for a watch); the encoder's other "
                        "leads are zero-filled in the graph (default: all of them)")
    export.add_argument("--calibration", nargs="+", metavar="DATA",
                        help="int8: a `pclr tensorize` folder or ECG files; 256 ECGs spread "
                             "over them calibrate, 64 others check the accuracy guard")
    export.set_defaults(run=run)


def run(args):
    from pclr_keras.export.artifacts import export_encoder
    from pclr_keras.export.onnx import OnnxMissing

    encoder = _load_or_build_encoder(args.model, args.variant, args.untrained)
    precision = "int8" if args.precision == "int8" else chosen_precision(args)
    leads = _raw_leads(args.leads, encoder)
    try:
        written = export_encoder(encoder, args.out, name=args.name,
                                 formats=args.formats.split(","), version=args.version,
                                 precision=precision,
                                 calibration=_calibration(args, encoder, precision),
                                 leads_present=leads)
    except (ValueError, OnnxMissing) as error:
        raise SystemExit(f"pclr export: {error}") from None
    for fmt, path in written.items():
        print(f"{fmt:<11} {path}")
    if leads and any(fmt.startswith("savedmodel") for fmt in written):
        print(f"embed_raw takes leads {leads} (in this order); the others are zero-filled")


def _raw_leads(spec, encoder):
    """The leads --leads names, as the encoder's variant orders them (None for all); a
    usage error for a spec naming no lead the encoder reads."""
    if spec is None:
        return None
    from pclr_keras.export.artifacts import serving_variant
    from pclr_keras.preprocess import present_leads

    variant = serving_variant(encoder)
    try:
        leads = present_leads(variant, spec)
    except ValueError as error:
        usage("export", f"--leads {spec!r}: {error}")
    return None if leads == tuple(variant.leads) else ",".join(leads)


def _calibration(args, encoder, precision):
    """int8: the --calibration ECGs, preprocessed for the encoder; otherwise None."""
    if precision != "int8" or not args.calibration:
        return None
    from pclr_keras.embedding.int8 import DEFAULT_CALIBRATION_ECGS, GUARD_ECGS, read_ecgs
    from pclr_keras.embedding.model import variant_of

    return read_ecgs(args.calibration, variant_of(encoder, None),
                     DEFAULT_CALIBRATION_ECGS + GUARD_ECGS)


def _load_or_build_encoder(weights, variant, untrained):
    """The encoder at `weights`, or with --untrained a randomly initialised `variant`."""
    from pclr_keras.weights.load import load_encoder
    from pclr_keras.models import build_encoder

    if weights:
        return load_encoder(weights)
    if not untrained:
        raise SystemExit(
            "pclr: give --model PATH or a preset name (`pclr presets`; a .h5/.keras of "
            "ours, or ml4h's PCLR.h5 or SavedModel folder), or --untrained to use randomly "
            "initialised weights.")
    return build_encoder(variant)
