"""`pclr embed`: N x 320 representations of tensorized or raw ECGs, on a chosen runner."""

from pclr_keras.cli.arguments import (
    add_identifier_arguments, add_outcome_arguments, add_precision_argument,
    add_runner_arguments, chosen_precision, identifier_options, run_on_chosen_runner)
from pclr_keras.cli.exits import check_inputs, command_outcome, usage
from pclr_keras.cli.tensorize import add_leads_argument, leads_options


def add_arguments(commands):
    """`pclr embed` and its flags."""
    embed = commands.add_parser(
        "embed", help="N x 320 representations of tensorized or raw ECGs (Parquet or CSV)")
    embed.add_argument("--model", required=True,
                       help="encoder: a preset name, ours (.h5/.keras) or ml4h's, or `random` "
                            "(the pclr architecture with random weights drawn from --seed: "
                            "the baseline a pre-trained encoder has to beat)")
    embed.add_argument("--seed", type=int, default=0, help="seed of --model random's weights")
    embed.add_argument("--data", required=True, nargs="+",
                       help="a `pclr tensorize` folder, or ECG files / folders (ids are paths "
                            "relative to them)")
    embed.add_argument("--out", required=True,
                       help="output file, .parquet (or .csv), not a folder; re-run to resume")
    embed.add_argument("--csv", action="store_true", help="write CSV instead of Parquet")
    embed.add_argument("--shard", default="0/1", help="i/n: this machine's part of the archive")
    embed.add_argument("--batch-size", type=int, default=64, help="ECGs per forward pass")
    embed.add_argument("--chunk-size", type=int, default=2048, help="ECGs per resumable part")
    embed.add_argument("--strict", action="store_true",
                       help="raw files: reject an ECG with any flat lead (default: embed ECGs "
                            "with 1-2 flat leads, listed in the `quality` column)")
    embed.add_argument("--patient-id-field",
                       help="raw files: metadata field holding the patient id, written as "
                            "read (default: the file's patient id is left out, see "
                            "--pseudonymize)")
    embed.add_argument("--windows", choices=("first", "all"), default="first",
                       help="embed the first 10 s, or every whole 10 s window (long records, "
                       "tensorized with --windows all)")
    embed.add_argument("--aggregate", choices=("mean", "none"), default="mean",
                       help="with --windows all: one row per ECG, the mean over its windows "
                       "(default), or one row per window with its start time")
    add_leads_argument(embed)
    add_identifier_arguments(embed)
    add_outcome_arguments(embed)
    add_runner_arguments(embed, "embed")
    add_precision_argument(embed, inference=True, help=INT8_HELP)
    embed.add_argument("--calibration", nargs="+", metavar="DATA",
                       help="int8: a `pclr tensorize` folder or ECG files to calibrate on "
                            "(default: --data; 256 ECGs calibrate, 64 others check the guard)")
    embed.set_defaults(run=run)


INT8_HELP = ("what the encoder computes in: float32 (default), bfloat16, float16, int8 (a "
             "quantized copy run by TFLite, checked against float32 on 64 ECGs), or auto "
             "(what this machine runs fastest and safely; docs/precision.md). A .onnx or "
             ".tflite --model computes as it was exported")


def run(args):
    from pclr_keras.embedding import format_summary
    from pclr_keras.export.onnx import OnnxMissing
    from pclr_keras.outcome import FAILED, NoInput, check_file_output, stop
    from pclr_keras.preprocess import TOLERATED_FLAT_LEADS

    check_inputs("embed", args.data)
    bad_out = check_file_output(args.out)
    if bad_out:
        usage("embed", bad_out)
    lead_names, leads_present = leads_options(args.leads, "embed")
    options = dict(batch_size=args.batch_size, chunk_size=args.chunk_size,
                   output_format="csv" if args.csv else None,
                   patient_id_field=args.patient_id_field,
                   max_flat_leads=0 if args.strict else TOLERATED_FLAT_LEADS,
                   windows=args.windows, aggregate=args.aggregate,
                   **_precision(args), **identifier_options(args),
                   **({"reader_options": lead_names, "leads_present": leads_present}
                      if args.leads else {}))
    try:
        summary = run_on_chosen_runner("embed", args, _encoder(args), args.data, args.out,
                                       shard=args.shard, **options)
    except NoInput as error:
        stop(FAILED, f"pclr {error}")
    except ValueError as error:
        usage("embed", error)
    except OnnxMissing as error:
        raise SystemExit(f"pclr: {error}") from None
    print(format_summary(summary, out=args.out))
    return command_outcome("embed", summary["ecgs_found"], summary["embedded"],
                           summary["rejected"], args)


def _encoder(args):
    """--model as the runner takes it: a name or path, or for `random` the pclr
    architecture with weights drawn from --seed (the same seed, the same weights)."""
    if args.model != "random":
        return args.model
    if args.runner != "local":
        usage("embed", "--model random runs on --runner local; for Beam, write the weights "
                       "to a file first: pclr export --untrained --out DIR --formats keras")
    import keras

    from pclr_keras.models import build_encoder

    keras.utils.set_random_seed(args.seed)
    return build_encoder("pclr", name=f"random_seed_{args.seed}")


def _precision(args):
    """--precision as the job takes it: `auto` said on stderr, then decided by the job
    (which may still fall back from int8); --calibration passed with it."""
    chosen = chosen_precision(args, inference=True)
    return {"precision": args.precision if args.precision == "auto" else chosen,
            "calibration": args.calibration}
