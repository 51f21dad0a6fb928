"""`pclr tensorize`: ECG files read, validated and preprocessed into HDF5 shards."""

from pathlib import Path

from pclr_keras.cli.arguments import (
    add_identifier_arguments, add_outcome_arguments, add_runner_arguments, identifier_options,
    run_on_chosen_runner)
from pclr_keras.cli.exits import check_inputs, command_outcome, usage


def add_arguments(commands):
    """`pclr tensorize` and its flags."""
    from pclr_keras.variants import VARIANTS

    tensorize = commands.add_parser(
        "tensorize", help="read, validate and preprocess ECG files into HDF5 shards")
    tensorize.add_argument("sources", nargs="*", help="ECG files or folders to walk "
                           "(as --data)")
    tensorize.add_argument("--data", nargs="+", action="extend",
                           help="ECG files or folders to walk; ids are paths relative to them")
    tensorize.add_argument("--out", required=True, help="output folder (re-run to resume)")
    _add_manifest_arguments(tensorize)
    tensorize.add_argument("--patient-id-field",
                           help="file header field holding the patient id, e.g. patient_id: "
                                "written as read (default: the file's patient id is left "
                                "out, see --pseudonymize)")
    tensorize.add_argument("--variants", default="pclr",
                           help=f"comma-separated, of {', '.join(sorted(VARIANTS))}")
    tensorize.add_argument("--windows", choices=("first", "all"), default="first",
                           help="records longer than 10 s: the first 10 s, or every whole 10 s")
    tensorize.add_argument("--fs", type=float, help="sampling rate, for files that store none")
    add_leads_argument(tensorize)
    tensorize.add_argument("--units", help="mV, uV or V, for files that store none")
    tensorize.add_argument("--shard-size", type=int, default=500, help="input files per shard")
    tensorize.add_argument("--workers", type=int, help="processes (default: all cores)")
    tensorize.add_argument("--strict", action="store_true",
                           help="reject an ECG with any flat lead (default: keep ECGs with 1-2 "
                                "flat leads, listed in the `quality` column)")
    add_identifier_arguments(tensorize)
    add_outcome_arguments(tensorize)
    add_runner_arguments(tensorize, "tensorize")
    tensorize.set_defaults(run=run)


def add_leads_argument(parser):
    """--leads, as `pclr tensorize` and `pclr embed` read it: reduced-lead input."""
    from pclr_keras.variants import LEAD_SETS

    parser.add_argument(
        "--leads", help=f"the leads the input holds, a set name ({', '.join(LEAD_SETS)}) or a "
        "comma list; files that store no lead names hold them in this order; the encoder's "
        "other leads are zero-filled (reduced-lead input). Without it, all 12 leads are "
        "required")


def leads_options(spec, command="tensorize"):
    """(reader options, leads present) that --leads `spec` means; a usage error for a spec
    naming no standard lead.

    Files that store no lead names get the names as given (a set name: its leads), so
    an order that names extra channels keeps them as columns to ignore.
    """
    from pclr_keras.variants import LEAD_SETS, STANDARD_LEADS, normalize_lead_name

    if spec is None:
        return {}, None
    order = list(LEAD_SETS[spec.strip()]) if spec.strip() in LEAD_SETS else spec.split(",")
    present = [name for name in order if normalize_lead_name(name) in STANDARD_LEADS]
    if not present:
        usage(command, f"--leads {spec!r} names no lead of "
              f"{list(STANDARD_LEADS)} and no set of {list(LEAD_SETS)}")
    return {"lead_names": order}, ",".join(present)


def _add_manifest_arguments(parser):
    """--manifest and how its columns and paths are read."""
    parser.add_argument("--manifest", help="CSV with a path per row (+ patient id, labels)")
    parser.add_argument("--path-column", default="path",
                        help="the manifest's column of file paths")
    parser.add_argument("--patient-column", default="patient_id",
                        help="the manifest's column of patient ids (kept as given)")
    parser.add_argument("--path-root", help="folder manifest paths are relative to "
                        "(default: the manifest's folder)")
    parser.add_argument("--drop-if", help="pandas query of manifest rows to exclude, "
                        "e.g. \"in_v1_0_3 == False\"")


def run(args):
    from pclr_keras.tensorize import read_manifest

    sources = list(args.sources) + list(args.data or [])
    if not sources and not args.manifest:
        usage("tensorize", "give files or folders (--data), or --manifest CSV")
    check_inputs("tensorize", sources + ([args.manifest] if args.manifest else []))
    settings = _settings(args)
    listed, planned = [], []
    if args.manifest:
        listed, planned = read_manifest(
            args.manifest, path_column=args.path_column, patient_column=args.patient_column,
            path_root=args.path_root, drop_if=args.drop_if)
    summary = run_on_chosen_runner("tensorize", args, sources, args.out, settings,
                                   listed=listed, planned_errors=planned,
                                   shard_size=args.shard_size, workers=args.workers)
    _print_summary(summary, Path(args.out))
    return command_outcome("tensorize", summary["ecgs_found"], summary["tensorized"],
                           summary["rejected"], args)


def _settings(args):
    """`TensorizeSettings` from the flags; a usage error (2) for values it refuses."""
    from pclr_keras.tensorize import TensorizeSettings

    lead_names, leads_present = leads_options(args.leads)
    reader_options = {key: value for key, value in [
        ("fs", args.fs), ("units", args.units)] if value is not None} | lead_names
    try:
        return TensorizeSettings(
            leads_present=leads_present or (),
            variants=tuple(args.variants.split(",")), windows=args.windows,
            patient_id_field=args.patient_id_field or "",
            reader_options=tuple(sorted(reader_options.items())),
            max_flat_leads=0 if args.strict else TensorizeSettings.max_flat_leads,
            **identifier_options(args))
    except ValueError as error:
        usage("tensorize", error)


def _print_summary(summary, out):
    produced = summary["tensorized"]
    print(f"\nTensorized into {out}" if produced else
          f"\nNothing tensorized: {out} holds only summary.json and errors.csv")
    print(f"  ECGs found        {summary['ecgs_found']}")
    print(f"  tensorized        {produced}" + (f"  ({len(summary['shards'])} shards, "
                                              "labels.csv, index.csv)" if produced else ""))
    if summary["flagged"]:
        print(f"  flagged           {summary['flagged']} with 1-2 flat leads (tensorized; "
              "listed in labels.csv `quality`; --filter 'quality.isna()' leaves them out)")
    rejected = sum(summary["rejected"].values())
    reasons = ", ".join(f"{n} {problem}" for problem, n in summary["rejected"].items())
    print(f"  rejected          {rejected}" + (f"  ({reasons}; see errors.csv)" if rejected else ""))
    print(f"  patients          {summary['patients']}, of whom "
          f"{summary['patients_with_2_or_more_ecgs']} with >= 2 ECGs")
    if summary["without_patient_id"]:
        print(f"  no patient id     {summary['without_patient_id']} ECGs "
              "(tensorized; not usable for patient pairs)")
    print(f"  identifiers       {summary['identifiers']['identifiers']}")
    if summary["identifiers"]["note"]:
        print(f"  note              {summary['identifiers']['note']}")
