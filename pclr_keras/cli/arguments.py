"""Flags that several subcommands share, each added one way and read back one way."""

import sys


def add_identifier_arguments(parser):
    """--pseudonymize KEYFILE | --keep-identifiers (README: What leaves the building)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--pseudonymize", metavar="KEYFILE",
                       help="write keyed HMAC-SHA256 pseudonyms of the files' patient ids and "
                            "of ecg_id, so patient pairs form (key: at least 32 bytes, e.g. "
                            "`openssl rand -hex 32 > KEYFILE`; default: the files' "
                            "identifiers are left out)")
    group.add_argument("--keep-identifiers", action="store_true",
                       help="keep the files' patient ids, dates, names and free text as read, "
                            "and name files by their paths even where a path spells the "
                            "patient: only for data inside a protected environment (default: "
                            "left out, such paths replaced by a digest of the file)")


def identifier_options(args):
    """identifiers=..., key_file=... for the Python API, from the flags."""
    if args.keep_identifiers:
        return {"identifiers": "keep", "key_file": None}
    if args.pseudonymize:
        return {"identifiers": "pseudonymize", "key_file": args.pseudonymize}
    return {"identifiers": "remove", "key_file": None}


def add_outcome_arguments(parser):
    """--fail-on-errors, --max-error-rate (README: Exit codes)."""
    parser.add_argument("--fail-on-errors", action="store_true",
                        help="exit 1 if any input was rejected (default: exit 0 when "
                             "something was produced; the errors report lists the rest)")
    parser.add_argument("--max-error-rate", type=float, metavar="R",
                        help="exit 1 if more than this share (0-1) of the ECGs found was "
                             "rejected (default: no limit)")


def add_runner_arguments(parser, command):
    """--runner, one of `command`'s runners in `pclr_keras.pipelines.RUNNERS`, and
    --beam-options."""
    from pclr_keras.pipelines import RUNNERS

    parser.add_argument("--runner", choices=tuple(RUNNERS[command]), default="local",
                        help="local (this machine) or beam (an Apache Beam pipeline; needs "
                             "pip install 'pclr-keras[beam]')")
    parser.add_argument("--beam-options", default="",
                        help="Beam pipeline flags, given with =, e.g. --beam-options=\"--runner=FlinkRunner "
                             "--flink_master=host:8081\" (default: DirectRunner, "
                             "multi-processing, all cores)")


def run_on_chosen_runner(command, args, *job, **options):
    """`command`'s job on the runner --runner names; its summary.

    Without the `beam` extra, a Beam runner stops with one line saying which
    extra to install. Beam's workers log INFO, and TensorFlow's start-up lines
    in them reach stderr, only with --verbose (`cli/quiet.py`).
    """
    from pclr_keras.cli.quiet import quiet_workers
    from pclr_keras.pipelines import RUNNERS, BeamMissing

    runner = RUNNERS[command][args.runner]
    beam_options = args.beam_options
    verbose = getattr(args, "verbose", False)
    if not verbose and "sdk_harness_log_level" not in beam_options:
        beam_options = f"{beam_options} --default_sdk_harness_log_level=WARNING".strip()
    try:
        with quiet_workers(verbose):
            return runner(*job, beam_options=beam_options, **options)
    except BeamMissing as error:
        raise SystemExit(f"pclr: {error}") from None


def add_precision_argument(parser, help=None, inference=False):
    """--precision: what the encoder computes in (`inference`: int8 too)."""
    from pclr_keras.precision import CHOICES, DEFAULT_PRECISION, INFERENCE_CHOICES

    parser.add_argument("--precision", choices=INFERENCE_CHOICES if inference else CHOICES,
                        default=DEFAULT_PRECISION,
                        help=help or "what the encoder computes in, weights and outputs "
                             "staying float32: float32 (default: ml4h's numbers bit for bit), "
                             "bfloat16 (CPUs with AVX512_BF16 or AMX, GPUs from A100 on), "
                             "float16 (GPUs), or auto (bfloat16 where the hardware has it)")


def chosen_precision(args, inference=False):
    """The concrete precision of `--precision`, said on stderr when it is not float32."""
    from pclr_keras.precision import describe_precision, resolve_precision

    if args.precision != "float32":
        print(describe_precision(args.precision, inference), file=sys.stderr)
    return resolve_precision(args.precision, inference)


def add_allow_test_fold(parser):
    """--allow-test-fold: the training commands' one way past PTB-XL's test fold guard."""
    parser.add_argument("--allow-test-fold", action="store_true",
                        help="let --val-filter include PTB-XL's fold 10 (with a warning): its "
                             "fold-10 scores are then no clean test scores (default: refuse)")


def add_verbose_argument(parser, default=False):
    """--verbose: TensorFlow's and Beam's start-up logging on stderr too."""
    parser.add_argument("--verbose", action="store_true", default=default,
                        help="also show TensorFlow's and Beam's start-up and INFO logging "
                             "(default: warnings, errors and our own messages only)")


def add_subset_arguments(parser, seed_help):
    """--label-counts, --repeats, --seed: the labelled training subsets a probe draws."""
    parser.add_argument("--label-counts", default="50,100,250,500,1000,2500,5000",
                        help="comma-separated training-set sizes (labelled ECGs)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="random training subsets per label count")
    parser.add_argument("--seed", type=int, default=0, help=seed_help)
