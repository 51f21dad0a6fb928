"""Fold discipline: fold 9 chooses, fold 10 is read once, at the end, and never chooses."""

import importlib.util
import threading
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from pclr_keras.cli import main as pclr_main
from pclr_keras.data import TensorizedECGs
from pclr_keras.folds import SELECTION_FOLD, SelectionOnTestFoldError, guard_selection
from pclr_keras.ptbxl_finetune import FinetuneBudget, finetune_run
from pclr_keras.ptbxl_protocol import training_subset
from pclr_keras.training import PretrainConfig, Pretrainer
from test_data import C, L, write_tensors

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_a_selection_set_with_fold_10_is_refused_and_fold_9_passes():
    labels = pd.DataFrame({"strat_fold": [8, 9, 10, 10]})
    with pytest.raises(SelectionOnTestFoldError, match="holds 2 ECGs of fold 10") as error:
        guard_selection(labels, "The validation set")
    assert SELECTION_FOLD in str(error.value) and "--allow-test-fold" in str(error.value)
    guard_selection(labels[labels.strat_fold <= 9], "The validation set")
    guard_selection(pd.DataFrame({"split": ["test"]}), "A set without PTB-XL folds")
    with pytest.warns(UserWarning, match="not clean test scores"):
        guard_selection(labels, "The validation set", allow_test_fold=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tensors(tmp_path_factory.mktemp("tensors"), [2] * 30)


def test_pretraining_refuses_fold_10_for_validation(folder, tmp_path):
    train = TensorizedECGs(folder, label_filter="strat_fold <= 8")
    config = PretrainConfig(batch_size=2, steps=1)
    with pytest.raises(SelectionOnTestFoldError, match="validation set"):
        Pretrainer(config, train, tmp_path / "run",
                   validation=TensorizedECGs(folder, label_filter="strat_fold >= 9"))
    with pytest.raises(SystemExit, match="fold 10, PTB-XL's test fold"):
        pclr_main(["pretrain", "--data", str(folder), "--out", str(tmp_path / "cli"),
                   "--filter", "strat_fold <= 8", "--val-filter", "strat_fold >= 9",
                   "--steps", "1"])


class ReadLog:
    """Tensorized ECGs that remember every row they are asked for, in order."""

    def __init__(self, ecgs):
        self.ecgs, self.reads, self.lock = ecgs, [], threading.Lock()
        self.input_shape, self.labels = ecgs.input_shape, ecgs.labels

    def read_ecgs(self, positions):
        with self.lock:
            self.reads.append(np.asarray(positions).ravel().copy())
        return self.ecgs.read_ecgs(positions)


def tiny_encoder():
    inputs = keras.Input((L, C))
    hidden = keras.layers.Dense(4, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, name="embed")(hidden))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_fine_tuning_chooses_on_fold_9_and_reads_fold_10_once_at_the_end(folder, precision):
    ecgs = ReadLog(TensorizedECGs(folder))
    folds = ecgs.labels.strat_fold.to_numpy()
    value = np.arange(len(folds)) + 1.0  # ECG k is the constant k + 1
    y = np.stack([value > np.median(value), np.arange(len(folds)) // 10 % 2 == 0], axis=1)
    budget = FinetuneBudget(batch_size=8, frozen_epochs=1, max_epochs=4, patience=2,
                            precision=precision)
    lines = []
    row = finetune_run(tiny_encoder(), ecgs, y, folds, 1.0, seed=0, budget=budget,
                       report=lines.append)

    labelled = y.any(axis=1)
    test_rows = set(np.flatnonzero(labelled & (folds == 10)))
    touched = [bool(test_rows & set(read)) for read in ecgs.reads]
    first = touched.index(True)
    assert all(touched[first:]), "fold 10 read before the last choice was made"
    assert sorted(np.concatenate(ecgs.reads[first:])) == sorted(test_rows)  # each row once
    chosen = [read for read in ecgs.reads[:first] if set(read) <= set(np.flatnonzero(folds == 9))]
    assert chosen, "no fold-9 reads: the epoch was not chosen on fold 9"
    assert row["train_ecgs"] == (labelled & (folds <= 8)).sum() and row["test_labels"] == 2
    assert 1 <= row["best_epoch"] <= row["epochs"] <= 5
    assert len(lines) == row["epochs"] and lines[0].startswith("epoch 1: fold-9 macro AUROC ")
    assert lines[row["best_epoch"] - 1].endswith(f"{row['val_auroc']:.4f} (best so far)")
    assert 0.0 <= row["test_auroc"] <= 1.0 and row["ci_low"] <= row["ci_high"]


def test_training_subsets_of_one_seed_are_nested():
    rows = np.arange(100, 300)
    small, large = training_subset(rows, 0.1, 3), training_subset(rows, 0.5, 3)
    assert len(small) == 20 and len(large) == 100 and set(small) <= set(large)
    assert len(training_subset(rows, 0.001, 3)) == 2
    assert not np.array_equal(small, training_subset(rows, 0.1, 4))


def test_ablation_table_reports_mean_and_spread_over_seeds():
    spec = importlib.util.spec_from_file_location("ablate", BENCHMARKS / "ablate_pretraining.py")
    ablate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ablate)
    table = pd.DataFrame({"run": ["a", "a", "a", "b"], "held_out_loss": [1.0, 2.0, 3.0, 5.0],
                          "pair_accuracy": 0.5, "top1": [0.1, 0.2, 0.3, 0.4], "top5": 0.9})
    summary = ablate.seed_summary(table).set_index("run")
    assert summary.loc["a", "seeds"] == 3 and summary.loc["a", "top1_mean"] == pytest.approx(0.2)
    assert summary.loc["a", "top1_std"] == pytest.approx(np.std([0.1, 0.2, 0.3], ddof=1))
    text = ablate.markdown(summary.reset_index())
    assert "| a | 3 | 2.000 ± 1.000 |" in text and "| b | 1 | 5.000 | 0.500 |" in text
    assert ablate.run_folder("runs", "lr 3e-3", 0).name == "lr_3e-3"
    assert ablate.run_folder("runs", "lr 3e-3", 2).name == "lr_3e-3_seed2"
