"""The PTB-XL benchmark fine-tuned end to end: does starting from PCLR still help?

Linear evaluation (`protocol`) freezes the encoder; the published
PTB-XL results train whole networks. Here the encoder and one sigmoid output
per statement are trained on 1 %, 10 % or 100 % of folds 1-8, starting from
pre-trained weights or from random weights of the same network, with the same
budget either way: the `pclr finetune` recipe (the head first with the
encoder frozen, then everything at a lower learning rate), the epoch with the
best fold-9 macro AUROC kept (early stopping), and fold 10 predicted once, at
the very end, by that epoch's weights. A run on all of folds 1-8 takes hours on
a CPU, so it can save itself after every epoch and continue from there.
"""

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np

from pclr_keras.weights.load import encoder_only
from pclr_keras.atomic import replacing
from pclr_keras.training.finetune import ecg_dataset
from pclr_keras.folds import SELECTION_FOLD_NUMBER, TEST_FOLD_NUMBER
from pclr_keras.precision import with_precision
from pclr_keras.evaluation.ptbxl.protocol import (bootstrap_interval, macro_auroc,
                                                  training_subset)


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


class EpochCheckpoint(keras.callbacks.Callback):
    """The whole run saved after every epoch (after `BestOnFoldNine` scored it).

    One `.npz` written atomically: the model's and optimizer's variables, the
    best weights so far, and where the run stands (epochs done and early
    stops per phase, the fold-9 history). `run` describes the run; a file
    left by another run is refused rather than continued.
    """

    def __init__(self, path, run, chooser):
        super().__init__()
        self.path, self.run, self.chooser = Path(path), run, chooser
        self.phase, self.epochs, self.stopped = 0, [0, 0], [False, False]
        self.weights, self.optimizer_variables = None, None

    def load(self):
        """Reads a saved run into this callback and the chooser; False if none."""
        if not self.path.exists():
            return False
        with np.load(self.path) as saved:
            arrays = dict(saved)
        state = json.loads(str(arrays.pop("state")))
        if state["run"] != self.run:
            raise SystemExit(f"{self.path} holds another run ({state['run']}), not "
                             f"{self.run}: delete it or give this run another checkpoint path")
        self.epochs, self.stopped = state["epochs"], state["stopped"]
        chooser = self.chooser
        chooser.history, chooser.best_score = state["history"], state["best_score"]
        chooser.stale, chooser.best_weights = state["stale"], _unpack(arrays, "best")
        self.weights = _unpack(arrays, "model")
        self.optimizer_variables = _unpack(arrays, "optimizer")
        return True

    def restore(self, model):
        """Puts the saved weights, and the optimizer of an unfinished phase, into `model`."""
        model.set_weights(self.weights)
        if self.epochs[self.phase]:
            model.optimizer.build(model.trainable_variables)
            for variable, value in zip(model.optimizer.variables, self.optimizer_variables,
                                       strict=True):
                variable.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs[self.phase] = epoch + 1
        self.stopped[self.phase] = bool(self.model.stop_training)
        chooser = self.chooser
        state = dict(run=self.run, epochs=self.epochs, stopped=self.stopped,
                     history=[float(h) for h in chooser.history],
                     best_score=float(chooser.best_score), stale=chooser.stale)
        arrays = {**_pack("model", self.model.get_weights()),
                  **_pack("optimizer", [v.numpy() for v in self.model.optimizer.variables]),
                  **_pack("best", chooser.best_weights)}
        with replacing(self.path) as tmp, open(tmp, "wb") as f:
            np.savez(f, state=json.dumps(state), **arrays)


def _pack(name, arrays):
    return {f"{name}_{i}": np.asarray(a) for i, a in enumerate(arrays)}


def _unpack(saved, name):
    count = sum(key.startswith(f"{name}_") for key in saved)
    return [saved[f"{name}_{i}"] for i in range(count)]


def finetune_run(encoder, ecgs, y, folds, fraction, seed, budget=FinetuneBudget(), report=None,
                 checkpoint=None):
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
        checkpoint: optional `.npz` path saved after every epoch. If it
            exists, the run continues from it and ends as the same run
            uninterrupted would have; delete it once the result is kept.

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
    chooser = BestOnFoldNine(ecgs, val, y[val], budget.patience, report)
    run = dict(fraction=fraction, seed=seed, train_ecgs=len(train), labels=y.shape[1],
               budget=dataclasses.asdict(budget))
    saver, resumed = _checkpoint(checkpoint, run, chooser, report)
    # Keras's fit starts two passes over the data per epoch (the epoch's, and
    # one it drops at the epoch's end); each pass draws the next order.
    batches = ecg_dataset(ecgs, train, y[train], budget.batch_size, shuffle=True, seed=seed,
                          skip_orders=2 * sum(saver.epochs) if resumed else 0)
    _train_phases(model, encoder, batches, budget, chooser, saver, resumed)
    model.set_weights(chooser.best_weights)
    test = np.flatnonzero(labelled & (folds == TEST_FOLD_NUMBER))
    scored = _score_fold_ten(model, ecgs, y, test, seed)
    return dict(fraction=fraction, seed=seed, train_ecgs=len(train),
                epochs=len(chooser.history), best_epoch=int(np.argmax(chooser.history)) + 1,
                val_auroc=chooser.best_score, **scored)


def _checkpoint(path, run, chooser, report):
    """(`EpochCheckpoint` or None, whether it continues a saved run)."""
    if path is None:
        return None, False
    saver = EpochCheckpoint(path, run, chooser)
    resumed = saver.load()
    if resumed and report:
        report(f"continuing after epoch {len(chooser.history)} from {path}")
    return saver, resumed


def _train_phases(model, encoder, batches, budget, chooser, saver, resumed):
    """The head alone, then the whole network; phases a saved run finished are skipped."""
    callbacks = [chooser] + ([saver] if saver else [])
    phases = [(False, budget.frozen_epochs, budget.learning_rate),
              (True, budget.max_epochs, budget.unfrozen_learning_rate)]
    for phase, (trainable, epochs, rate) in enumerate(phases):
        done = saver.epochs[phase] if saver else 0
        if done >= epochs or (saver and saver.stopped[phase]):
            continue
        encoder.trainable = trainable
        model.compile(optimizer=keras.optimizers.Adam(rate), loss="binary_crossentropy")
        if saver:
            saver.phase = phase
        if resumed:
            saver.restore(model)
            resumed = False
        if not done:
            chooser.stale = 0  # patience counts within a phase
        model.fit(batches, initial_epoch=done, epochs=epochs, callbacks=callbacks,
                  shuffle=False, verbose=0)


def _score_fold_ten(model, ecgs, y, test, seed):
    """Fold 10 is read here, once, after every choice was made."""
    scores = predict_rows(model, ecgs, test)
    auroc, n_labels = macro_auroc(y[test], scores)
    patients = ecgs.labels.patient_id.to_numpy()[test] if "patient_id" in ecgs.labels else None
    low, high = bootstrap_interval(y[test], scores, patients, seed=seed)
    return dict(test_auroc=auroc, ci_low=low, ci_high=high, test_labels=n_labels)
