"""The PTB-XL benchmark fine-tuned end to end: does starting from PCLR still help?

Linear evaluation (`ptbxl_protocol`) freezes the encoder; the published
PTB-XL results train whole networks. Here the encoder and one sigmoid output
per statement are trained on 1 %, 10 % or 100 % of folds 1-8, starting from
pre-trained weights or from random weights of the same network, with the same
budget either way: the `pclr finetune` recipe (the head first with the
encoder frozen, then everything at a lower learning rate), the epoch with the
best fold-9 macro AUROC kept (early stopping), and fold 10 predicted once, at
the very end, by that epoch's weights.
"""

import dataclasses

import keras
import numpy as np

from pclr_keras.artifacts import encoder_only
from pclr_keras.finetune import ecg_dataset
from pclr_keras.folds import SELECTION_FOLD_NUMBER, TEST_FOLD_NUMBER
from pclr_keras.precision import with_precision
from pclr_keras.ptbxl_protocol import bootstrap_interval, macro_auroc, training_subset


@dataclasses.dataclass
class FinetuneBudget:
    """What every fine-tuning run may spend, whatever its starting weights.

    Args:
        batch_size: int.
        frozen_epochs: int. Epochs of the head alone (encoder frozen, its
            batch norm in inference mode).
        max_epochs: int. Most epochs of the whole network afterwards.
        patience: int. Stop after this many epochs without a better fold-9
            macro AUROC.
        learning_rate: float. Adam, head alone.
        unfrozen_learning_rate: float. Adam, whole network.
        precision: str. What training computes in (`pclr_keras.precision`);
            bfloat16 about halves a CPU step where the CPU has AVX512_BF16.
    """

    batch_size: int = 32
    frozen_epochs: int = 1
    max_epochs: int = 20
    patience: int = 3
    learning_rate: float = 1e-3
    unfrozen_learning_rate: float = 1e-4
    precision: str = "float32"


def build_statement_model(encoder, n_labels):
    """Encoder + one sigmoid per statement on `embed`."""
    encoder = encoder_only(encoder)
    scores = keras.layers.Dense(n_labels, activation="sigmoid", name="statements")(encoder.output)
    return keras.Model(encoder.input, scores, name="pclr_statements")


def predict_rows(model, ecgs, positions, batch_size=64):
    """Model outputs for rows `positions` of tensorized ECGs, in order."""
    return np.concatenate([
        model.predict_on_batch(ecgs.read_ecgs(positions[start:start + batch_size]))
        for start in range(0, len(positions), batch_size)])


class BestOnFoldNine(keras.callbacks.Callback):
    """Early stopping on fold 9: scores each epoch, keeps the best weights, stops when stale."""

    def __init__(self, ecgs, positions, y, patience, report=None):
        super().__init__()
        self.ecgs, self.positions, self.y, self.patience = ecgs, positions, y, patience
        self.report = report
        self.history, self.best_score, self.best_weights, self.stale = [], -np.inf, None, 0

    def on_epoch_end(self, epoch, logs=None):
        score = macro_auroc(self.y, predict_rows(self.model, self.ecgs, self.positions))[0]
        self.history.append(score)
        best = score > self.best_score
        if best:
            self.best_score, self.best_weights, self.stale = score, self.model.get_weights(), 0
        else:
            self.stale += 1
            self.model.stop_training = self.stale >= self.patience
        if self.report:
            self.report(f"epoch {len(self.history)}: fold-9 macro AUROC {score:.4f}"
                        + (" (best so far)" if best else ""))


def finetune_run(encoder, ecgs, y, folds, fraction, seed, budget=FinetuneBudget(), report=None):
    """Fine-tunes `encoder` on a `fraction` of folds 1-8; fold 9 chooses, fold 10 scores.

    Args:
        encoder: a Keras encoder (its weights are trained).
        ecgs: `TensorizedECGs` of the labelled ECGs, rows aligned with `y`.
        y: 0/1 array (ECGs, statements); rows without a label are left out.
        folds: array (ECGs,) of `strat_fold`.
        fraction: float. Share of the training ECGs, a seeded subset.
        seed: int. Subset, head initialisation and data order.
        budget: `FinetuneBudget`.
        report: optional callable taking one line of text per epoch (its
            fold-9 score), for progress on runs that take many minutes.

    Returns:
        dict: train_ecgs, epochs (run), best_epoch, val_auroc (fold 9),
        test_auroc (fold 10) with its 95 % bootstrap interval, test_labels.
    """
    y, folds = np.asarray(y, np.float32), np.asarray(folds)
    labelled = y.sum(axis=1) > 0
    train = training_subset(np.flatnonzero(labelled & (folds <= 8)), fraction, seed)
    val = np.flatnonzero(labelled & (folds == SELECTION_FOLD_NUMBER))
    keras.utils.set_random_seed(seed)
    encoder = with_precision(encoder_only(encoder), budget.precision)
    model = build_statement_model(encoder, y.shape[1])
    batches = ecg_dataset(ecgs, train, y[train], budget.batch_size, shuffle=True, seed=seed)
    chooser = BestOnFoldNine(ecgs, val, y[val], budget.patience, report)
    for trainable, epochs, rate in [(False, budget.frozen_epochs, budget.learning_rate),
                                    (True, budget.max_epochs, budget.unfrozen_learning_rate)]:
        if epochs:
            encoder.trainable = trainable
            chooser.stale = 0  # patience counts within a phase
            model.compile(optimizer=keras.optimizers.Adam(rate), loss="binary_crossentropy")
            model.fit(batches, epochs=epochs, callbacks=[chooser], shuffle=False, verbose=0)
    model.set_weights(chooser.best_weights)
    # Fold 10 is read here, once, after every choice was made.
    test = np.flatnonzero(labelled & (folds == TEST_FOLD_NUMBER))
    scores = predict_rows(model, ecgs, test)
    auroc, n_labels = macro_auroc(y[test], scores)
    low, high = bootstrap_interval(y[test], scores, seed=seed)
    return dict(fraction=fraction, seed=seed, train_ecgs=len(train),
                epochs=len(chooser.history), best_epoch=int(np.argmax(chooser.history)) + 1,
                val_auroc=chooser.best_score, test_auroc=auroc, ci_low=low, ci_high=high,
                test_labels=n_labels)

