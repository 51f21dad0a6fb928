"""The `pclr` command: parse arguments, then one call per subcommand."""

import argparse
import json
import os
import sys
from pathlib import Path


def _load_or_build_encoder(weights, variant, untrained):
    from pclr_keras.artifacts import load_encoder
    from pclr_keras.models import build_encoder

    if weights:
        return load_encoder(weights)
    if not untrained:
        raise SystemExit(
            "pclr: give --model PATH or a preset name (`pclr presets`; a .h5/.keras of "
            "ours, or ml4h's PCLR.h5 or SavedModel folder), or --untrained to use randomly "
            "initialised weights.")
    return build_encoder(variant)


def run_export(args):
    from pclr_keras.artifacts import export_encoder

    encoder = _load_or_build_encoder(args.model, args.variant, args.untrained)
    try:
        written = export_encoder(encoder, args.out, name=args.name,
                                 formats=args.formats.split(","), version=args.version,
                                 precision=_chosen_precision(args))
    except ValueError as error:
        raise SystemExit(f"pclr export: {error}") from None
    for fmt, path in written.items():
        print(f"{fmt:<11} {path}")


def run_presets(args):
    from pclr_keras.presets import describe_preset, preset_table

    if args.name:
        try:
            print(describe_preset(args.name))
        except KeyError as error:
            raise SystemExit(f"pclr presets: {error.args[0]}") from None
        return
    print(preset_table())
    print("\nLoad one with pclr_keras.load_encoder(NAME) or --model NAME; "
          "`pclr presets NAME` shows its licences, hashes and model card.")


def _add_presets(commands):
    """`pclr presets` and its argument."""
    presets = commands.add_parser(
        "presets", help="list the named weights (load_encoder(NAME), --model NAME)")
    presets.add_argument("name", nargs="?", help="show everything about one preset")
    presets.set_defaults(run=run_presets)


def _add_export(commands):
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
                        help="comma-separated: h5, keras, savedmodel, tflite")
    _add_precision_argument(export, help="also write the SavedModel computing in bfloat16 "
                            "(NAME_bf16/VERSION/) or float16 (NAME_fp16/); auto: bfloat16 "
                            "where this machine has it (default: float32 only)")
    export.set_defaults(run=run_export)


def run_demo(args):
    from pclr_keras.demo import run_demo as demo

    demo(args.data, args.out, steps=args.steps, limit=args.limit)


def _add_demo(commands):
    """`pclr demo` and its flags."""
    demo = commands.add_parser(
        "demo", help="tensorize, pre-train, embed and probe the sample ECGs in a few minutes")
    demo.add_argument("--data", default=str(Path("..") / "shared" / "data" / "ptbxl"),
                      help="the PTB-XL sample folder (default: ../shared/data/ptbxl); "
                           "without it, a synthetic cohort")
    demo.add_argument("--steps", type=int, default=150, help="pre-training steps")
    demo.add_argument("--limit", type=int, default=0,
                      help="use only this many patients (PTB-XL: those with most ECGs)")
    demo.add_argument("--out", default="pclr_demo", help="output folder")
    demo.set_defaults(run=run_demo)

def run_tensorize(args):
    from pclr_keras.tensorize import (
        TensorizeSettings, find_inputs, read_manifest, tensorize)

    sources = list(args.sources) + list(args.data or [])
    if not sources and not args.manifest:
        _usage("tensorize", "give files or folders (--data), or --manifest CSV")
    _check_inputs("tensorize", sources + ([args.manifest] if args.manifest else []))
    reader_options = {key: value for key, value in [
        ("fs", args.fs), ("lead_names", args.leads.split(",") if args.leads else None),
        ("units", args.units)] if value is not None}
    try:
        settings = TensorizeSettings(
            variants=tuple(args.variants.split(",")), windows=args.windows,
            patient_id_field=args.patient_id_field or "",
            reader_options=tuple(sorted(reader_options.items())),
            max_flat_leads=0 if args.strict else TensorizeSettings.max_flat_leads,
            **_identifier_options(args))
    except ValueError as error:
        _usage("tensorize", error)
    inputs, planned, listed = find_inputs(sources), [], []
    if args.manifest:
        listed, planned = read_manifest(
            args.manifest, path_column=args.path_column, patient_column=args.patient_column,
            path_root=args.path_root, drop_if=args.drop_if)
        inputs += listed
    if args.runner == "beam":
        from pclr_keras.pipelines import tensorize_on_beam

        summary = _on_beam(tensorize_on_beam, sources, args.out, settings,
                           listed=listed,
                           planned_errors=planned, shard_size=args.shard_size,
                           beam_options=args.beam_options, workers=args.workers)
    else:
        summary = tensorize(inputs, args.out, settings, planned_errors=planned,
                            shard_size=args.shard_size, workers=args.workers)
    _print_tensorized(summary, Path(args.out))
    return _outcome("tensorize", summary["ecgs_found"], summary["tensorized"],
                    summary["rejected"], args)


def _print_tensorized(summary, out):
    print(f"\nTensorized into {out}")
    print(f"  ECGs found        {summary['ecgs_found']}")
    print(f"  tensorized        {summary['tensorized']}  ({len(summary['shards'])} shards, "
          f"labels.csv, index.csv)")
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


def _add_tensorize(commands):
    """`pclr tensorize` and its flags."""
    from pclr_keras.variants import VARIANTS

    tensorize = commands.add_parser(
        "tensorize", help="read, validate and preprocess ECG files into HDF5 shards")
    tensorize.add_argument("sources", nargs="*", help="ECG files or folders to walk "
                           "(as --data)")
    tensorize.add_argument("--data", nargs="+", action="extend",
                           help="ECG files or folders to walk; ids are paths relative to them")
    tensorize.add_argument("--out", required=True, help="output folder (re-run to resume)")
    tensorize.add_argument("--manifest", help="CSV with a path per row (+ patient id, labels)")
    tensorize.add_argument("--path-column", default="path",
                           help="the manifest's column of file paths")
    tensorize.add_argument("--patient-column", default="patient_id",
                           help="the manifest's column of patient ids (kept as given)")
    tensorize.add_argument("--path-root", help="folder manifest paths are relative to "
                           "(default: the manifest's folder)")
    tensorize.add_argument("--drop-if", help="pandas query of manifest rows to exclude, "
                           "e.g. \"in_v1_0_3 == False\"")
    tensorize.add_argument("--patient-id-field",
                           help="file header field holding the patient id, e.g. patient_id: "
                                "written as read (default: the file's patient id is left "
                                "out, see --pseudonymize)")
    tensorize.add_argument("--variants", default="pclr",
                           help=f"comma-separated, of {', '.join(sorted(VARIANTS))}")
    tensorize.add_argument("--windows", choices=("first", "all"), default="first",
                           help="records longer than 10 s: the first 10 s, or every whole 10 s")
    tensorize.add_argument("--fs", type=float, help="sampling rate, for files that store none")
    tensorize.add_argument("--leads", help="comma-separated lead order, for files that store none")
    tensorize.add_argument("--units", help="mV, uV or V, for files that store none")
    tensorize.add_argument("--shard-size", type=int, default=500, help="input files per shard")
    tensorize.add_argument("--workers", type=int, help="processes (default: all cores)")
    tensorize.add_argument("--strict", action="store_true",
                           help="reject an ECG with any flat lead (default: keep ECGs with 1-2 "
                                "flat leads, listed in the `quality` column)")
    _add_identifier_arguments(tensorize)
    _add_outcome_arguments(tensorize)
    _add_runner_arguments(tensorize)
    tensorize.set_defaults(run=run_tensorize)


def _add_identifier_arguments(parser):
    """--pseudonymize KEYFILE | --keep-identifiers (README: What leaves the building)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--pseudonymize", metavar="KEYFILE",
                       help="write keyed HMAC-SHA256 pseudonyms of the files' patient ids and "
                            "of ecg_id, so patient pairs form (key: at least 32 bytes, e.g. "
                            "`openssl rand -hex 32 > KEYFILE`; default: the files' "
                            "identifiers are left out)")
    group.add_argument("--keep-identifiers", action="store_true",
                       help="keep the files' patient ids, dates, names and free text as read: "
                            "only for data inside a protected environment (default: left out)")


def _identifier_options(args):
    """identifiers=..., key_file=... for the Python API, from the flags."""
    if args.keep_identifiers:
        return {"identifiers": "keep", "key_file": None}
    if args.pseudonymize:
        return {"identifiers": "pseudonymize", "key_file": args.pseudonymize}
    return {"identifiers": "remove", "key_file": None}


def _add_outcome_arguments(parser):
    """--fail-on-errors, --max-error-rate (README: Exit codes)."""
    parser.add_argument("--fail-on-errors", action="store_true",
                        help="exit 1 if any input was rejected (default: exit 0 when "
                             "something was produced; the errors report lists the rest)")
    parser.add_argument("--max-error-rate", type=float, metavar="R",
                        help="exit 1 if more than this share (0-1) of the ECGs found was "
                             "rejected (default: no limit)")


def _usage(command, message):
    from pclr_keras.outcome import USAGE, stop

    stop(USAGE, f"pclr {command}: {message}")


def _check_inputs(command, paths):
    """Exits 2 naming the first input path that does not exist."""
    from pclr_keras.outcome import missing_inputs

    missing = missing_inputs(paths)
    if missing:
        _usage(command, f"{missing[0]}: no such file or folder")


def _outcome(command, found, produced, rejected, args):
    """The command's exit status by `pclr_keras.outcome`; says why when not 0."""
    from pclr_keras.outcome import error_rate_limit, outcome, stop

    status, line = outcome(found, produced, rejected,
                           error_rate_limit(args.fail_on_errors, args.max_error_rate))
    if status:
        stop(status, f"pclr {command}: {line}")
    return status


def _strategy(name):
    import tensorflow as tf

    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    return {"default": tf.distribute.get_strategy,
            "mirrored": tf.distribute.MirroredStrategy,
            "multiworker": tf.distribute.MultiWorkerMirroredStrategy}[name]()


def run_pretrain(args):
    from pclr_keras.data import TensorizedECGs
    from pclr_keras.training import PretrainConfig, Pretrainer

    # A multi-worker strategy must exist before any other TensorFlow work.
    strategy = _strategy(args.strategy)
    if args.mixed_precision:
        if args.precision not in ("float32", "float16"):
            raise SystemExit("pclr pretrain: --mixed-precision means --precision float16; "
                             f"give --precision {args.precision} alone.")
        print("pclr pretrain: --mixed-precision is deprecated; it means --precision float16 "
              "(on CPUs, --precision bfloat16 is the one that pays)", file=sys.stderr)
        args.precision = "float16"
    try:
        config = PretrainConfig(
            variant=args.variant, objective=args.objective,
            targets=tuple(t for spec in args.target or () for t in spec.split(",") if t),
            batch_size=args.batch_size, epochs=args.epochs, steps=args.steps,
            optimizer=args.optimizer, learning_rate=args.lr, warmup_fraction=args.warmup_fraction,
            temperature=args.temperature, augment=args.augment,
            extra_negatives=args.extra_negatives, single_ecg_pairs=args.single_ecg_pairs,
            lead_mask=args.lead_mask,
            lead_sets=tuple(s for s in (args.lead_sets or "").split(";") if s.strip()),
            seed=args.seed,
            checkpoint_every=args.checkpoint_every, steps_per_loop=args.steps_per_loop,
            precision=_chosen_precision(args), jit_compile=args.xla,
            encoder=json.loads(args.encoder_json) if args.encoder_json else {},
            init_weights=args.model or "")
        ecgs = TensorizedECGs(args.data, variant=args.variant, label_filter=args.filter)
        validation = TensorizedECGs(args.data, variant=args.variant,
                                    label_filter=args.val_filter) if args.val_filter else None
        trainer = Pretrainer(config, ecgs, args.out, strategy=strategy, validation=validation,
                             allow_test_fold=args.allow_test_fold)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"pclr pretrain: {error}") from None
    print(f"pre-training {config.objective} on {len(ecgs.labels)} ECGs "
          f"({len(ecgs.pair_patients)} patients with >= 2), {trainer.total_steps} steps of "
          f"{config.batch_size}, {strategy.num_replicas_in_sync} replica(s)")
    result = trainer.fit()
    print(json.dumps(result, indent=2, default=float))
    print(f"encoder written to {Path(args.out) / 'PCLR.h5'}, .keras and PCLR/1/")


def _add_pretrain(commands):
    """`pclr pretrain` and its flags."""
    from pclr_keras.variants import VARIANTS

    pretrain = commands.add_parser(
        "pretrain", help="pre-train an encoder on tensorized ECGs (resumes in --out)")
    pretrain.add_argument("--data", required=True, help="a `pclr tensorize` output folder")
    pretrain.add_argument("--out", required=True, help="run folder; re-run to resume")
    pretrain.add_argument("--variant", default="pclr", choices=sorted(VARIANTS),
                          help="encoder variant (must match the tensorized data)")
    pretrain.add_argument("--objective", default="pclr",
                          choices=("pclr", "simclr", "clocs", "autoencoder", "supervised"),
                          help="pclr: two ECGs of a patient; simclr: two augmentations; clocs: "
                               "two halves of a recording; autoencoder, supervised: ml4h's")
    pretrain.add_argument("--target", action="append",
                          help="binary label column for --objective supervised; repeatable or "
                               "comma-separated")
    pretrain.add_argument("--targets", action="append", dest="target", help=argparse.SUPPRESS)
    pretrain.add_argument("--batch-size", type=int, default=32,
                          help="global batch: patients (pairs) per step, as the released recipe")
    pretrain.add_argument("--epochs", type=int, default=10, help="passes over the patients")
    pretrain.add_argument("--steps", type=int, default=0, help="total steps (overrides --epochs)")
    pretrain.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "lamb", "sgd"),
                          help="adam as PCLR; lamb for large batches; sgd with momentum 0.9")
    pretrain.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    pretrain.add_argument("--temperature", type=float, default=0.1,
                          help="NT-Xent temperature (default: 0.1, as PCLR)")
    pretrain.add_argument("--augment", action="store_true",
                          help="pclr, clocs: also augment both views (simclr always does)")
    pretrain.add_argument("--extra-negatives", type=int, default=0,
                          help="pclr: ECGs of one-ECG patients added to every step as "
                          "negatives only (default: 0, as PCLR)")
    pretrain.add_argument("--single-ecg-pairs", type=int, default=0,
                          help="pclr: ECGs of one-ECG patients added to every step as pairs of "
                          "two augmentations of themselves (default: 0, as PCLR)")
    pretrain.add_argument("--lead-mask", type=float, default=0.0, metavar="P",
                          help="chance that each view keeps only one lead set real devices record "
                          "(lead I, limb leads, ...), the rest zero: one checkpoint for any "
                          "leads (default: 0)")
    pretrain.add_argument("--lead-sets", metavar="SETS",
                          help="';'-separated lead sets --lead-mask draws from, names or comma "
                          "lists, e.g. 'I;II;I,II' (default: limb;I,II;I;II;precordial;V2)")
    pretrain.add_argument("--warmup-fraction", type=float, default=0.05,
                          help="share of the steps the learning rate warms up over")
    pretrain.add_argument("--seed", type=int, default=0, help="seed of batches and weights")
    pretrain.add_argument("--filter", help="pandas query on labels.csv selecting training ECGs, "
                          "e.g. \"strat_fold <= 8\"")
    pretrain.add_argument("--val-filter", help="query selecting held-out ECGs to report on, "
                          "e.g. \"strat_fold == 9\" (PTB-XL's fold 10 is refused: it is the test set)")
    _add_allow_test_fold(pretrain)
    pretrain.add_argument("--strategy", default="auto",
                          choices=("auto", "default", "mirrored", "multiworker"),
                          help="auto: multiworker if TF_CONFIG is set, mirrored on >1 GPU")
    pretrain.add_argument("--checkpoint-every", type=int, default=100,
                          help="steps between checkpoints (what a resumed run starts from)")
    pretrain.add_argument("--steps-per-loop", type=int, default=1,
                          help="training steps per compiled call")
    _add_precision_argument(pretrain)
    pretrain.add_argument("--mixed-precision", action="store_true",
                          help=argparse.SUPPRESS)  # deprecated: --precision float16
    pretrain.add_argument("--xla", action="store_true", help="compile the step with XLA")
    pretrain.add_argument("--encoder-json", help="build_encoder overrides as JSON, e.g. "
                          "'{\"stem_filters\": 16}' (default: the released architecture)")
    pretrain.add_argument("--model", help="start from this encoder's weights (a preset name, "
                          ".h5, .keras, ml4h's): continued pre-training, e.g. of released "
                          "weights (default: randomly initialised)")
    pretrain.add_argument("--init-weights", dest="model", help=argparse.SUPPRESS)
    pretrain.set_defaults(run=run_pretrain)


def _parse_targets(specs, default="binary"):
    """["sex:binary", "age:continuous"] -> {"sex": "binary", "age": "continuous"}."""
    targets = {}
    for spec in specs:
        column, _, kind = spec.partition(":")
        targets[column] = kind or default
    return targets


def run_finetune(args):
    from pclr_keras.artifacts import load_encoder
    from pclr_keras.data import TensorizedECGs
    from pclr_keras.finetune import FinetuneConfig, finetune

    encoder = load_encoder(args.model)
    variant = variant_name(encoder)
    try:
        config = FinetuneConfig(
            targets=_parse_targets(args.target), batch_size=args.batch_size,
            frozen_epochs=args.frozen_epochs, unfrozen_epochs=args.unfrozen_epochs,
            learning_rate=args.lr, unfrozen_learning_rate=args.unfrozen_lr, seed=args.seed,
            precision=_chosen_precision(args))
        ecgs = TensorizedECGs(args.data, variant=variant, label_filter=args.filter)
        validation = TensorizedECGs(args.data, variant=variant,
                                    label_filter=args.val_filter) if args.val_filter else None
        finetune(encoder, ecgs, config, args.out, validation=validation,
                 allow_test_fold=args.allow_test_fold)
    except ValueError as error:
        raise SystemExit(f"pclr finetune: {error}") from None
    print(f"task model written to {Path(args.out) / 'task_model.keras'} and .h5")


def _add_finetune(commands):
    """`pclr finetune` and its flags."""
    finetune = commands.add_parser(
        "finetune", help="encoder + heads, trained frozen then unfrozen, saved as Keras")
    finetune.add_argument("--model", required=True,
                          help="encoder: a preset name, ours (.h5/.keras) or ml4h's")
    finetune.add_argument("--data", required=True, help="a `pclr tensorize` output folder")
    finetune.add_argument("--target", action="append", required=True,
                          help="label column[:binary|continuous], repeatable (default: binary)")
    finetune.add_argument("--out", required=True, help="output folder for the task model")
    finetune.add_argument("--filter", help="pandas query on labels.csv selecting training ECGs "
                          "(default: all)")
    finetune.add_argument("--val-filter", help="query selecting validation ECGs, e.g. "
                          "\"strat_fold == 9\" (PTB-XL's fold 10 is refused: it is the test set)")
    _add_allow_test_fold(finetune)
    finetune.add_argument("--batch-size", type=int, default=32, help="ECGs per step")
    finetune.add_argument("--frozen-epochs", type=int, default=5,
                          help="epochs training the heads, the encoder frozen")
    finetune.add_argument("--unfrozen-epochs", type=int, default=5,
                          help="epochs training everything after that")
    finetune.add_argument("--lr", type=float, default=1e-3, help="learning rate, frozen phase")
    finetune.add_argument("--unfrozen-lr", type=float, default=1e-4,
                          help="learning rate, unfrozen phase")
    finetune.add_argument("--seed", type=int, default=0, help="seed of batches and heads")
    _add_precision_argument(finetune)
    finetune.set_defaults(run=run_finetune)


def variant_name(encoder):
    from pclr_keras.variants import variant_for_input_shape

    return variant_for_input_shape(*encoder.input.shape[1:]).name


def run_datasets(args):
    """Exit codes as the bulk commands': 2 for a name or rate it does not know, 1 when
    the set or any of its files could not be fetched and checked."""
    from pclr_keras.datasets import DatasetError, DatasetNameError, describe, fetch
    from pclr_keras.outcome import FAILED, USAGE, stop

    if args.action == "list":
        print(describe())
        return 0
    try:
        summary = fetch(args.name, args.root, rate=args.rate, include=args.include,
                        base_url=args.base_url, workers=args.workers,
                        tensorize_out=args.tensorize_out)
    except DatasetNameError as error:
        stop(USAGE, f"pclr datasets fetch: {error}")
    except DatasetError as error:
        stop(FAILED, f"pclr datasets fetch: {error}")
    print(json.dumps(summary, indent=2, default=str))
    if summary["failures"]:
        stop(FAILED, f"pclr datasets fetch: {len(summary['failures'])} file(s) failed; "
                     "run the same command again to retry them.")
    return 0


def _add_datasets(commands):
    """`pclr datasets` and its flags."""
    datasets = commands.add_parser(
        "datasets", help="download public ECG sets with resume and checksum checks")
    datasets.add_argument("action", choices=("fetch", "list"),
                          help="fetch a dataset, or list those known")
    datasets.add_argument("name", nargs="?", help="dataset to fetch (see `pclr datasets list`)")
    datasets.add_argument("--root", default="datasets", help="download folder")
    datasets.add_argument("--rate", type=int, help="sampling rate where a set has several (PTB-XL)")
    datasets.add_argument("--include", action="append", help="glob of files to get, repeatable")
    datasets.add_argument("--base-url", help="a mirror of the dataset's files")
    datasets.add_argument("--workers", type=int, default=4, help="parallel downloads")
    datasets.add_argument("--tensorize-out", help="tensorize into this folder when complete")
    datasets.set_defaults(run=run_datasets)


def _on_beam(run, *args, **kwargs):
    """Runs a `pclr_keras.pipelines` job; without the `beam` extra, says how to install it."""
    try:
        return run(*args, **kwargs)
    except ImportError as error:
        from pclr_keras.pipelines import BEAM_MISSING

        if str(error) == BEAM_MISSING:
            raise SystemExit(f"pclr: {error}") from None
        raise


def run_embed(args):
    from pclr_keras.embedding import embed, format_summary, is_tensorized_folder, parse_shard
    from pclr_keras.outcome import FAILED, NoInput, check_file_output, stop
    from pclr_keras.preprocess import TOLERATED_FLAT_LEADS

    _check_inputs("embed", args.data)
    bad_out = check_file_output(args.out)
    if bad_out:
        _usage("embed", bad_out)
    sources = args.data[0] if len(args.data) == 1 else args.data
    options = dict(batch_size=args.batch_size, chunk_size=args.chunk_size,
                   output_format="csv" if args.csv else None,
                   patient_id_field=args.patient_id_field,
                   max_flat_leads=0 if args.strict else TOLERATED_FLAT_LEADS,
                   windows=args.windows, aggregate=args.aggregate,
                   precision=_chosen_precision(args), **_identifier_options(args))
    try:
        if args.runner == "beam":
            from pclr_keras.pipelines import embed_on_beam

            if args.shard != "0/1" or any(is_tensorized_folder(s) for s in args.data):
                raise ValueError("--runner beam embeds ECG files (no --shard, no tensorized "
                                 "folder): Beam splits the work itself.")
            summary = _on_beam(embed_on_beam, args.model, args.data, args.out,
                               beam_options=args.beam_options, **options)
        else:
            summary = embed(args.model, sources, args.out, shard=parse_shard(args.shard),
                            **options)
    except NoInput as error:
        stop(FAILED, f"pclr {error}")
    except ValueError as error:
        _usage("embed", error)
    print(format_summary(summary, out=args.out))
    return _outcome("embed", summary["ecgs_found"], summary["embedded"], summary["rejected"],
                    args)


def _add_embed(commands):
    """`pclr embed` and its flags."""
    embed = commands.add_parser(
        "embed", help="N x 320 representations of tensorized or raw ECGs (Parquet or CSV)")
    embed.add_argument("--model", required=True,
                       help="encoder: a preset name, ours (.h5/.keras) or ml4h's")
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
    _add_identifier_arguments(embed)
    _add_outcome_arguments(embed)
    _add_runner_arguments(embed)
    _add_precision_argument(embed)
    embed.set_defaults(run=run_embed)


def _named_tables(specs):
    """["PCLR=pclr.parquet", "random=r.parquet"] -> {"PCLR": ..., "random": ...}."""
    tables = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        tables[name if sep else Path(spec).stem] = path if sep else spec
    return tables


def run_probe(args):
    import pandas as pd

    from pclr_keras.evaluate import probe, retrieval_table, superclass_targets, write_report

    labels = pd.read_csv(args.labels, dtype={"patient_id": str})
    if args.superclasses:
        labels = labels.join(superclass_targets(labels, column=args.superclasses))
    tables = _named_tables(args.embeddings)
    counts = tuple(int(c) for c in args.label_counts.split(","))
    try:
        summary = pd.concat([
            probe(tables, labels, target, task=kind,
                  label_counts=counts, repeats=args.repeats, test=args.test,
                  seed=args.seed, progress=True).summary
            for target, kind in _parse_targets(args.target, default="auto").items()],
            ignore_index=True)
    except ValueError as error:
        raise SystemExit(f"pclr probe: {error}") from None
    held_out = labels.query(args.test).ecg_id if isinstance(args.test, str) else None
    written = write_report(summary, args.out, retrieval=retrieval_table(tables, ecg_ids=held_out))
    print((Path(args.out) / "probe_results.md").read_text())
    print("written: " + ", ".join(str(p) for p in written.values()))


def _add_probe(commands):
    """`pclr probe` and its flags."""
    probe = commands.add_parser(
        "probe", help="linear probes at several label counts, with CIs, table and plot")
    probe.add_argument("--embeddings", required=True, nargs="+",
                       help="NAME=FILE tables (Parquet/CSV/NPZ), one per representation")
    probe.add_argument("--labels", required=True, help="CSV with ecg_id, patient_id, targets")
    probe.add_argument("--target", required=True, action="append",
                       help="column[:binary|continuous], repeatable (default: auto)")
    probe.add_argument("--superclasses", nargs="?", const="diagnostic_superclass",
                       help="add 0/1 NORM/MI/STTC/CD/HYP columns from this ;-joined column")
    probe.add_argument("--test", default=None,
                       help="held-out set: a query such as \"strat_fold >= 9\" "
                            "(default: 20%% of patients)")
    probe.add_argument("--label-counts", default="50,100,250,500,1000,2500,5000",
                       help="comma-separated training-set sizes (labelled ECGs)")
    probe.add_argument("--repeats", type=int, default=5,
                       help="random training subsets per label count")
    probe.add_argument("--seed", type=int, default=0, help="seed of the subsets")
    probe.add_argument("--out", default="probe_report", help="report folder")
    probe.set_defaults(run=run_probe)


def _named_models(specs):
    """["PCLR.h5", "mine=m.keras"] -> {"PCLR": "PCLR.h5", "mine": "m.keras"}: an unnamed
    model is "PCLR" (then, for more, its file's stem)."""
    models = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = ("PCLR" if "PCLR" not in models else Path(spec).stem), spec
        models[name] = path
    return models


def _held_out_query(command, data, test):
    """--test, or PTB-XL's folds 9-10 when labels.csv has `strat_fold` (said aloud)."""
    import pandas as pd

    from pclr_keras.folds import FOLD_COLUMN
    from pclr_keras.tensorize import LABELS_FILE

    if test:
        return test
    columns = pd.read_csv(Path(data) / LABELS_FILE, nrows=0).columns
    if FOLD_COLUMN not in columns:
        _usage(command, f"--test is required: {Path(data) / LABELS_FILE} has no "
               f"{FOLD_COLUMN} column to hold out (e.g. --test \"patient_id >= 'P5000'\")")
    query = f"{FOLD_COLUMN} >= 9"
    print(f"pclr {command}: held-out set --test \"{query}\" (the data has {FOLD_COLUMN}: "
          "PTB-XL's folds 9 and 10)")
    return query


def run_experiment(args):
    from pclr_keras.experiment import run_experiment as experiment

    _check_inputs("experiment", [args.data])
    encoders = {**_named_models(args.model or []), "random weights": "random"}
    counts = tuple(int(c) for c in args.label_counts.split(","))
    scratch = None
    if args.scratch:
        from pclr_keras.scratch import ScratchConfig

        try:
            scratch = ScratchConfig(**json.loads(args.scratch_config))
        except (TypeError, ValueError) as error:
            raise SystemExit(f"pclr experiment: --scratch-config: {error}") from None
    test = _held_out_query("experiment", args.data, args.test)
    experiment(args.data, args.out, encoders, test=test, label_counts=counts,
               repeats=args.repeats, seed=args.seed,
               extra=_named_tables(args.extra or []), scratch=scratch,
               scratch_label_counts=tuple(int(c) for c in args.scratch_label_counts.split(",")),
               scratch_repeats=args.scratch_repeats, precision=_chosen_precision(args))
    print((Path(args.out) / "probe_results.md").read_text())


def _add_experiment(commands):
    """`pclr experiment` and its flags."""
    experiment = commands.add_parser(
        "experiment", help="embed with several encoders + features, probe, retrieval, report")
    experiment.add_argument("--data", required=True, help="a `pclr tensorize` folder")
    experiment.add_argument("--model", action="append", metavar="[NAME=]PATH",
                            help="an encoder to evaluate (a preset name or file), repeatable; "
                                 "unnamed: PCLR (randomly initialised weights are always "
                                 "added as a baseline)")
    for alias in ("--weights", "--encoder"):  # earlier names
        experiment.add_argument(alias, action="append", dest="model", help=argparse.SUPPRESS)
    experiment.add_argument("--extra", action="append",
                            help="NAME=FILE more representations (Parquet/CSV/NPZ), repeatable")
    experiment.add_argument("--test", default=None,
                            help="held-out set, a query on labels.csv such as "
                                 "\"strat_fold >= 9\" (default: that one when the data has "
                                 "strat_fold, else required)")
    experiment.add_argument("--label-counts", default="50,100,250,500,1000,2500,5000",
                            help="comma-separated training-set sizes (labelled ECGs)")
    experiment.add_argument("--repeats", type=int, default=5,
                            help="random training subsets per label count")
    experiment.add_argument("--seed", type=int, default=0, help="seed of subsets and weights")
    experiment.add_argument("--scratch", action="store_true",
                            help="add a network trained from scratch on each training subset "
                                 "(slow on a CPU: minutes per subset)")
    experiment.add_argument("--scratch-label-counts", default="50,250,1000",
                            help="label counts for --scratch")
    experiment.add_argument("--scratch-repeats", type=int, default=1,
                            help="subsets per label count for --scratch")
    experiment.add_argument("--scratch-config", default="{}",
                            help='ScratchConfig overrides as JSON, e.g. \'{"max_steps": 300}\'')
    experiment.add_argument("--out", required=True, help="report folder")
    _add_precision_argument(experiment)
    experiment.set_defaults(run=run_experiment)


def _add_runner_arguments(parser):
    parser.add_argument("--runner", choices=("local", "beam"), default="local",
                        help="local (this machine) or beam (an Apache Beam pipeline; needs "
                             "pip install 'pclr-keras[beam]')")
    parser.add_argument("--beam-options", default="",
                        help="Beam pipeline flags, given with =, e.g. --beam-options=\"--runner=FlinkRunner "
                             "--flink_master=host:8081\" (default: DirectRunner, "
                             "multi-processing, all cores)")


def _add_precision_argument(parser, help=None):
    from pclr_keras.precision import CHOICES, DEFAULT_PRECISION

    parser.add_argument("--precision", choices=CHOICES, default=DEFAULT_PRECISION,
                        help=help or "what the encoder computes in, weights and outputs "
                             "staying float32: float32 (default: ml4h's numbers bit for bit), "
                             "bfloat16 (CPUs with AVX512_BF16 or AMX, GPUs from A100 on), "
                             "float16 (GPUs), or auto (bfloat16 where the hardware has it)")


def _chosen_precision(args):
    """The concrete precision of `--precision`, said on stderr when it is not float32."""
    from pclr_keras.precision import describe_precision, resolve_precision

    if args.precision != "float32":
        print(describe_precision(args.precision), file=sys.stderr)
    return resolve_precision(args.precision)


def _add_allow_test_fold(parser):
    parser.add_argument("--allow-test-fold", action="store_true",
                        help="let --val-filter include PTB-XL's fold 10 (with a warning): its "
                             "fold-10 scores are then no clean test scores (default: refuse)")


class _HelpWithDefaults(argparse.HelpFormatter):
    """Help that shows each option's default, unless its text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)


def build_parser():
    from pclr_keras import __version__

    parser = _Parser(prog="pclr", description="PCLR ECG representations in Keras 3.")
    parser.add_argument("--version", action="version", version=f"pclr-keras {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_presets, _add_export, _add_tensorize, _add_pretrain, _add_finetune, _add_datasets,
                _add_embed, _add_probe, _add_experiment, _add_demo):
        add(commands)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "datasets" and args.action == "fetch" and not args.name:
        parser.error("datasets fetch needs a dataset name; see `pclr datasets list`")
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
