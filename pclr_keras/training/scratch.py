"""The baseline PCLR has to beat: the same network trained from scratch on the labels.

PCLR's claim is that with few labels a linear model on its frozen
representation does better than a task-specific network. `ScratchBaseline`
is that network for `pclr_keras.evaluate.probe`: a `fit_predict` callable
that, for every training subset a linear probe gets, trains the encoder
architecture (with ml4h's Ribeiro-style dropout) plus one output from random
weights on exactly those labelled ECGs and predicts the held-out ECGs.

Each fit holds out a fifth of the subset's patients to pick the best epoch
by validation loss (early stopping; no held-out ECG is ever used). The step
budget is explicit because it is what a CPU can afford: `epochs` passes over
the subset, clipped to [`min_steps`, `max_steps`] optimiser steps. Predictions
are cached per subset, so an interrupted experiment resumes where it stopped.
"""

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import keras
import numpy as np

from pclr_keras.atomic import replacing
from pclr_keras.training.tensors import TensorizedECGs
from pclr_keras.folds import cv_splits
from pclr_keras.models import build_encoder


@dataclasses.dataclass
class ScratchConfig:
    """How each from-scratch network is trained.

    Args:
        variant: str. Encoder architecture (a key of `pclr_keras.VARIANTS`).
        encoder: dict. `build_encoder` overrides (small test models).
        dropout: float. Dropout in the residual units (Ribeiro et al.: 0.2).
        batch_size: int.
        learning_rate: float. Adam.
        epochs: int. Wanted passes over the subset's training part...
        min_steps, max_steps: int. ...clipped to this many optimiser steps.
    """

    variant: str = "pclr"
    encoder: dict = dataclasses.field(default_factory=dict)
    dropout: float = 0.2
    batch_size: int = 32
    learning_rate: float = 1e-3
    epochs: int = 10
    min_steps: int = 50
    max_steps: int = 150

    def __post_init__(self):
        if not 0 < self.min_steps <= self.max_steps:
            raise ValueError(f"need 0 < min_steps <= max_steps, got {self.min_steps}, "
                             f"{self.max_steps}")

    def epochs_for(self, n_train):
        """Epochs to run for `n_train` training ECGs under the step budget."""
        per_epoch = math.ceil(n_train / self.batch_size)
        steps = min(max(self.epochs * per_epoch, self.min_steps), self.max_steps)
        return max(1, math.ceil(steps / per_epoch))


def build_scratch_model(task, config):
    """Encoder (random weights, dropout) + one output: sigmoid (binary) or linear."""
    encoder = build_encoder(config.variant, dropout=config.dropout, name="scratch",
                            **config.encoder)
    output = keras.layers.Dense(1, activation="sigmoid" if task == "binary" else None,
                                name="output")(encoder.output)
    model = keras.Model(encoder.input, output, name="scratch_network")
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss="binary_crossentropy" if task == "binary" else "mse")
    return model


class ScratchBaseline:
    """`fit_predict` for `probe`: trains a network from scratch per training subset.

    Args:
        tensors: a `pclr tensorize` output folder holding every ECG the probe
            names (training subsets and held-out set).
        config: `ScratchConfig`.
        cache_dir: str, Path or None. One `.npy` of held-out predictions per
            fit, keyed by the subset, labels, seed and config; re-runs reuse it.
        verbose: passed to `model.fit`.
    """

    def __init__(self, tensors, config=None, cache_dir=None, verbose=0):
        self.ecgs = TensorizedECGs(tensors)
        self.config = config or ScratchConfig()
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.verbose = verbose
        self._position = {ecg: i for i, ecg in enumerate(self.ecgs.labels["ecg_id"])}
        self._test = (None, None)

    def _read(self, ecg_ids):
        missing = [e for e in ecg_ids if e not in self._position]
        if missing:
            raise KeyError(f"{len(missing)} ECGs are not in {self.ecgs.path}, e.g. "
                           f"{missing[:3]}")
        return self.ecgs.read_ecgs([self._position[e] for e in ecg_ids])

    def _key(self, train_ecg_ids, y_train, test_ecg_ids, task, seed):
        digest = hashlib.sha256(json.dumps(
            [list(map(str, train_ecg_ids)), np.asarray(y_train, float).tolist(),
             list(map(str, test_ecg_ids)), task, int(seed), dataclasses.asdict(self.config)],
            sort_keys=True).encode())
        return digest.hexdigest()[:24]

    def __call__(self, train_ecg_ids, y_train, train_patients, test_ecg_ids, *, task, seed):
        key = self._key(train_ecg_ids, y_train, test_ecg_ids, task, seed)
        cached = self.cache_dir / f"{key}.npy" if self.cache_dir else None
        if cached is not None and cached.exists():
            return np.load(cached)
        prediction = self.fit_predict(train_ecg_ids, y_train, train_patients, test_ecg_ids,
                                      task=task, seed=seed)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with replacing(cached) as tmp, open(tmp, "wb") as f:
                np.save(f, prediction)
        return prediction

    def fit_predict(self, train_ecg_ids, y_train, train_patients, test_ecg_ids, *, task, seed):
        """Trains one network on the subset and returns its held-out predictions."""
        y = np.asarray(y_train, np.float32)
        folds = cv_splits(y, np.asarray(train_patients), task, n_splits=5, seed=seed)
        fit_rows, val_rows = folds[0] if folds else (np.arange(len(y)), None)
        # A continuous target is standardised for training, predictions scaled back.
        mean, std = (0.0, 1.0) if task == "binary" else (float(y[fit_rows].mean()),
                                                         float(y[fit_rows].std()) or 1.0)
        target = (y - mean) / std
        x = self._read(list(train_ecg_ids))
        keras.utils.set_random_seed(seed)
        model = build_scratch_model(task, self.config)
        epochs = self.config.epochs_for(len(fit_rows))
        validation, callbacks = None, []
        if val_rows is not None:  # keep the epoch with the lowest validation loss
            validation = (x[val_rows], target[val_rows])
            callbacks = [keras.callbacks.EarlyStopping(patience=epochs,
                                                       restore_best_weights=True)]
        model.fit(x[fit_rows], target[fit_rows], batch_size=self.config.batch_size,
                  epochs=epochs, validation_data=validation,
                  callbacks=callbacks, shuffle=True, verbose=self.verbose)
        ids = tuple(map(str, test_ecg_ids))
        if self._test[0] != ids:
            self._test = (ids, self._read(list(ids)))
        prediction = model.predict(self._test[1], batch_size=64, verbose=0).reshape(-1)
        return prediction.astype(np.float64) * std + mean
