"""`pclr pretrain`: an encoder pre-trained on tensorized ECGs, resumable in its run folder."""

import argparse
import json
import os
import sys
from pathlib import Path

from pclr_keras.cli.arguments import add_allow_test_fold, add_precision_argument, chosen_precision


def add_arguments(commands):
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
    _add_recipe_arguments(pretrain)
    _add_run_arguments(pretrain)
    pretrain.set_defaults(run=run)


def _add_recipe_arguments(parser):
    """What is trained and how: batches, schedule, the contrast's views and negatives."""
    parser.add_argument("--batch-size", type=int, default=32,
                        help="global batch: patients (pairs) per step, as the released recipe")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the patients")
    parser.add_argument("--steps", type=int, default=0, help="total steps (overrides --epochs)")
    parser.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "lamb", "sgd"),
                        help="adam as PCLR; lamb for large batches; sgd with momentum 0.9")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--temperature", type=float, default=0.1,
                        help="NT-Xent temperature (default: 0.1, as PCLR)")
    parser.add_argument("--augment", action="store_true",
                        help="pclr, clocs: also augment both views (simclr always does)")
    parser.add_argument("--extra-negatives", type=int, default=0,
                        help="pclr: ECGs of one-ECG patients added to every step as "
                        "negatives only (default: 0, as PCLR)")
    parser.add_argument("--single-ecg-pairs", type=int, default=0,
                        help="pclr: ECGs of one-ECG patients added to every step as pairs of "
                        "two augmentations of themselves (default: 0, as PCLR)")
    parser.add_argument("--lead-mask", type=float, default=0.0, metavar="P",
                        help="chance that each view keeps only one lead set real devices record "
                        "(lead I, limb leads, ...), the rest zero: one checkpoint for any "
                        "leads (default: 0)")
    parser.add_argument("--lead-sets", metavar="SETS",
                        help="';'-separated lead sets --lead-mask draws from, names or comma "
                        "lists, e.g. 'I;II;I,II' (default: limb;I,II;I;II;precordial;V2)")
    parser.add_argument("--warmup-fraction", type=float, default=0.05,
                        help="share of the steps the learning rate warms up over")
    parser.add_argument("--seed", type=int, default=0, help="seed of batches and weights")


def _add_run_arguments(parser):
    """Which ECGs, on what hardware, in what precision, from which weights."""
    parser.add_argument("--filter", help="pandas query on labels.csv selecting training ECGs, "
                        "e.g. \"strat_fold <= 8\"")
    parser.add_argument("--val-filter", help="query selecting held-out ECGs to report on, "
                        "e.g. \"strat_fold == 9\" (PTB-XL's fold 10 is refused: it is the test set)")
    add_allow_test_fold(parser)
    parser.add_argument("--strategy", default="auto",
                        choices=("auto", "default", "mirrored", "multiworker"),
                        help="auto: multiworker if TF_CONFIG is set, mirrored on >1 GPU")
    parser.add_argument("--checkpoint-every", type=int, default=100,
                        help="steps between checkpoints (what a resumed run starts from)")
    parser.add_argument("--steps-per-loop", type=int, default=1,
                        help="training steps per compiled call")
    add_precision_argument(parser)
    parser.add_argument("--mixed-precision", action="store_true",
                        help=argparse.SUPPRESS)  # deprecated: --precision float16
    parser.add_argument("--xla", action="store_true", help="compile the step with XLA")
    parser.add_argument("--encoder-json", help="build_encoder overrides as JSON, e.g. "
                        "'{\"stem_filters\": 16}' (default: the released architecture)")
    parser.add_argument("--model", help="start from this encoder's weights (a preset name, "
                        ".h5, .keras, ml4h's): continued pre-training, e.g. of released "
                        "weights (default: randomly initialised)")
    parser.add_argument("--init-weights", dest="model", help=argparse.SUPPRESS)


def run(args):
    from pclr_keras.training.tensors import TensorizedECGs
    from pclr_keras.training import Pretrainer

    # A multi-worker strategy must exist before any other TensorFlow work.
    strategy = _strategy(args.strategy)
    _replace_mixed_precision(args)
    try:
        config = _config(args)
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


def _strategy(name):
    """The `tf.distribute` strategy --strategy names; auto picks one from the machine."""
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


def _replace_mixed_precision(args):
    """The deprecated --mixed-precision as the --precision float16 it means."""
    if not args.mixed_precision:
        return
    if args.precision not in ("float32", "float16"):
        raise SystemExit("pclr pretrain: --mixed-precision means --precision float16; "
                         f"give --precision {args.precision} alone.")
    print("pclr pretrain: --mixed-precision is deprecated; it means --precision float16 "
          "(on CPUs, --precision bfloat16 is the one that pays)", file=sys.stderr)
    args.precision = "float16"


def _config(args):
    """`PretrainConfig` from the flags (ValueError for values it refuses)."""
    from pclr_keras.training import PretrainConfig

    return PretrainConfig(
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
        precision=chosen_precision(args), jit_compile=args.xla,
        encoder=json.loads(args.encoder_json) if args.encoder_json else {},
        init_weights=args.model or "")

