"""`pclr finetune`: encoder + heads, trained frozen then unfrozen, saved as Keras."""

from pathlib import Path

from pclr_keras.cli.arguments import add_allow_test_fold, add_precision_argument, chosen_precision
from pclr_keras.cli.specs import parse_targets


def add_arguments(commands):
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
    add_allow_test_fold(finetune)
    finetune.add_argument("--batch-size", type=int, default=32, help="ECGs per step")
    finetune.add_argument("--frozen-epochs", type=int, default=5,
                          help="epochs training the heads, the encoder frozen")
    finetune.add_argument("--unfrozen-epochs", type=int, default=5,
                          help="epochs training everything after that")
    finetune.add_argument("--lr", type=float, default=1e-3, help="learning rate, frozen phase")
    finetune.add_argument("--unfrozen-lr", type=float, default=1e-4,
                          help="learning rate, unfrozen phase")
    finetune.add_argument("--max-steps", type=int, metavar="N",
                          help="at most N batches per epoch, a new random subset each epoch, "
                               "and N for validation: a run that fits a laptop (default: all)")
    finetune.add_argument("--seed", type=int, default=0, help="seed of batches and heads")
    add_precision_argument(finetune)
    finetune.set_defaults(run=run)


def run(args):
    from pclr_keras.weights.load import load_encoder
    from pclr_keras.training.tensors import TensorizedECGs
    from pclr_keras.training.finetune import FinetuneConfig, finetune

    encoder = load_encoder(args.model)
    variant = _variant_name(encoder)
    try:
        config = FinetuneConfig(
            targets=parse_targets(args.target), batch_size=args.batch_size,
            frozen_epochs=args.frozen_epochs, unfrozen_epochs=args.unfrozen_epochs,
            learning_rate=args.lr, unfrozen_learning_rate=args.unfrozen_lr, seed=args.seed,
            precision=chosen_precision(args), max_steps=args.max_steps)
        ecgs = TensorizedECGs(args.data, variant=variant, label_filter=args.filter)
        validation = TensorizedECGs(args.data, variant=variant,
                                    label_filter=args.val_filter) if args.val_filter else None
        finetune(encoder, ecgs, config, args.out, validation=validation,
                 allow_test_fold=args.allow_test_fold)
    except ValueError as error:
        raise SystemExit(f"pclr finetune: {error}") from None
    print(f"task model written to {Path(args.out) / 'task_model.keras'} and .h5")


def _variant_name(encoder):
    """The variant whose input shape the encoder reads (the data must match it)."""
    from pclr_keras.variants import variant_for_input_shape

    return variant_for_input_shape(*encoder.input.shape[1:]).name
