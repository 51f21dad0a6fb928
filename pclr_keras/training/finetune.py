"""From a pre-trained encoder to a task model, trained with plain `model.fit`.

The recipe PCLR users reach for when a linear probe is not enough: put a head
on the encoder's `embed`, train the head with the encoder frozen (its batch
norm in inference mode), then unfreeze everything and go on with a lower
learning rate. The result is an ordinary Keras model of stock layers, saved
as `.keras` and `.h5` that load without this package.

A continuous target (an age, ~60 years) is learned standardised with the
training rows' mean and standard deviation: its head's Dense predicts
standardised units and a `Rescaling` layer (stock Keras, so both files
still load plainly and every predict path gets years) maps them back; the
loss is weighted by 1 / std**2, which is the squared error of the
standardised values, so it does not swamp the binary heads.
"""

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pclr_keras.weights.load import encoder_only
from pclr_keras.folds import guard_selection
from pclr_keras.precision import resolve_precision, with_precision

TASKS = ("binary", "continuous")


@dataclasses.dataclass
class FinetuneConfig:
    """How to fine-tune.

    Args:
        targets: dict column -> "binary" or "continuous" (label columns of
            the tensorized data's `labels.csv`).
        batch_size: int.
        frozen_epochs: int. Epochs training the head only.
        unfrozen_epochs: int. Epochs training everything afterwards.
        learning_rate: float. Adam, for the frozen phase.
        unfrozen_learning_rate: float. Adam, for the unfrozen phase.
        seed: int. Head initialisation and data order.
        precision: str. What training computes in (`pclr_keras.precision`):
            `float32` (default), `bfloat16`, `float16` (with loss scaling)
            or `auto`. The heads and the saved task model are float32.
        max_steps: int or None. At most this many batches per epoch (each
            epoch a fresh random subset of the training ECGs) and as many
            for validation, so a run fits a laptop; None: every ECG.
    """

    targets: dict
    batch_size: int = 32
    frozen_epochs: int = 5
    unfrozen_epochs: int = 5
    learning_rate: float = 1e-3
    unfrozen_learning_rate: float = 1e-4
    seed: int = 0
    precision: str = "float32"
    max_steps: int = None

    def __post_init__(self):
        self.precision = resolve_precision(self.precision)
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, not {self.max_steps}.")
        bad = {t: kind for t, kind in self.targets.items() if kind not in TASKS}
        if not self.targets or bad:
            raise ValueError(f"targets must map label columns to one of {TASKS}; "
                             f"got {self.targets}.")


def build_task_model(encoder, targets, scales=None):
    """Encoder + one head per target on `embed`: sigmoid (binary) or linear.

    `scales`: {continuous target: (mean, std)}; such a head predicts
    standardised units and ends in a `Rescaling` to the target's units.
    """
    encoder = encoder_only(encoder)
    outputs = {}
    for target, kind in targets.items():
        if kind == "binary":
            outputs[target] = keras.layers.Dense(1, activation="sigmoid",
                                                 name=target)(encoder.output)
            continue
        mean, std = (scales or {}).get(target, (0.0, 1.0))
        standardised = keras.layers.Dense(1, name=f"{target}_standardised")(encoder.output)
        outputs[target] = keras.layers.Rescaling(std, offset=mean, dtype="float32",
                                                 name=target)(standardised)
    return keras.Model(encoder.input, outputs, name="pclr_task_model")


def target_scales(ecgs, targets):
    """{continuous target: (mean, std)} of the training rows with every target."""
    _, arrays = _targets_array(ecgs, targets)
    scales = {}
    for target, kind in targets.items():
        values = arrays[target]
        if kind == "continuous" and len(values):
            std = float(values.std())
            scales[target] = (float(values.mean()), std if std > 0 else 1.0)
    return scales


def _targets_array(ecgs, targets):
    """Label columns as float32 arrays; rows with a missing label are dropped."""
    labels = ecgs.labels.reset_index(drop=True)
    usable = labels[list(targets)].notna().all(axis=1).to_numpy()
    for target, kind in targets.items():
        values = labels.loc[usable, target]
        if kind == "binary" and not set(values.unique()) <= {0, 1, True, False}:
            raise ValueError(f"Binary target {target!r} has values {sorted(values.unique())[:5]}; "
                             "expected 0/1.")
    positions = np.flatnonzero(usable)
    arrays = {t: labels.loc[usable, t].to_numpy(np.float32)[:, None] for t in targets}
    return positions, arrays


def task_dataset(ecgs, targets, batch_size, shuffle, seed=0):
    """(ECG, {target: label}) batches from tensorized data for `model.fit`."""
    positions, arrays = _targets_array(ecgs, targets)
    if len(positions) == 0:
        raise ValueError(f"No ECG in {ecgs.path} has all of {list(targets)}.")
    return ecg_dataset(ecgs, positions, arrays, batch_size, shuffle, seed)


def ecg_dataset(ecgs, positions, labels, batch_size, shuffle, seed=0, skip_orders=0):
    """(ECG, label) batches of rows `positions` of tensorized ECGs, for `model.fit`.

    Args:
        ecgs: `TensorizedECGs`.
        positions: int array, rows of `ecgs.labels`.
        labels: array, or dict of arrays, with one row per position.
        skip_orders: int. With `shuffle`, how many of the seed's successive
            orders to pass over, so a resumed run sees the orders it would
            have seen.
    """
    shape = ecgs.input_shape
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(positions)), labels))
    if shuffle:
        dataset = dataset.shuffle(len(positions), seed=seed, reshuffle_each_iteration=True)
        for _ in range(skip_orders):
            iter(dataset)  # each new pass draws the next order; this reads nothing

    def read(index):
        return ecgs.read_ecgs(positions[index]).astype(np.float32)

    def load(index, batch_labels):
        x = tf.numpy_function(read, [index], tf.float32)
        x.set_shape((None, *shape))
        return x, batch_labels

    return dataset.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE) \
        .prefetch(tf.data.AUTOTUNE)


def _compile(model, targets, learning_rate, precision, scales):
    losses = {t: "binary_crossentropy" if kind == "binary" else "mse"
              for t, kind in targets.items()}
    # The squared error in standardised units: ((y_hat - y) / std) ** 2.
    weights = {t: 1.0 / scales[t][1] ** 2 if t in scales else 1.0 for t in targets}
    metrics = {t: [keras.metrics.AUC(name="auc")] if kind == "binary"
               else [keras.metrics.MeanAbsoluteError(name="mae")]
               for t, kind in targets.items()}
    optimizer = keras.optimizers.Adam(learning_rate)
    if precision == "float16":  # bfloat16 has float32's range: no scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics)


def finetune(encoder, ecgs, config, out_dir, validation=None, verbose=1, allow_test_fold=False):
    """Trains a task model frozen, then unfrozen, and saves it.

    Args:
        encoder: a Keras encoder (e.g. from `load_encoder`); its weights are
            trained in the second phase.
        ecgs: `pclr_keras.training.tensors.TensorizedECGs` with the target columns.
        config: `FinetuneConfig`.
        out_dir: str or Path. Gets `task_model.keras`, `task_model.h5` and
            `history.json`.
        validation: `TensorizedECGs` to report on after each epoch, or None;
            PTB-XL's test fold is refused there (`pclr_keras.folds`).
        verbose: passed to `model.fit`.
        allow_test_fold: bool. Warn instead of refusing fold-10 ECGs in
            `validation`.

    Returns:
        (model, history dict: phase -> Keras history).
    """
    import json

    if validation is not None:
        guard_selection(validation.labels, "The validation set (--val-filter)",
                        allow_test_fold=allow_test_fold)
    keras.utils.set_random_seed(config.seed)
    encoder = with_precision(encoder_only(encoder), config.precision)
    scales = target_scales(ecgs, config.targets)
    model = build_task_model(encoder, config.targets, scales)
    train = task_dataset(ecgs, config.targets, config.batch_size, shuffle=True, seed=config.seed)
    val = task_dataset(validation, config.targets, config.batch_size, shuffle=False) \
        if validation is not None else None
    if config.max_steps is not None:  # a new shuffle each epoch: a new subset each epoch
        train = train.take(config.max_steps)
        val = val.take(config.max_steps) if val is not None else None
    history = {}
    for phase, epochs, rate, trainable in [
            ("frozen", config.frozen_epochs, config.learning_rate, False),
            ("unfrozen", config.unfrozen_epochs, config.unfrozen_learning_rate, True)]:
        if not epochs:
            continue
        encoder.trainable = trainable  # frozen: batch norm runs in inference mode
        _compile(model, config.targets, rate, config.precision, scales)
        # The dataset shuffles itself; `shuffle=False` only stops Keras warning about it.
        fitted = model.fit(train, validation_data=val, epochs=epochs, shuffle=False,
                           verbose=verbose)
        history[phase] = {k: [float(v) for v in values] for k, values in fitted.history.items()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # A model trained in 16 bits is saved computing in float32 (same weights, no optimizer).
    saved = with_precision(model, "float32")
    saved.save(out_dir / "task_model.keras")
    # Without the training set-up: legacy .h5 cannot restore per-output losses.
    saved.save(out_dir / "task_model.h5", include_optimizer=False)
    (out_dir / "history.json").write_text(json.dumps(history, indent=2))
    return model, history
