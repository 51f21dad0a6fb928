"""Fine-tuning on PTB-XL: fold 9 chooses, fold 10 is read once at the end, and runs save every
epoch and continue where they stopped."""

import dataclasses
import functools
import importlib.util
import json
import shutil
import sys
import threading
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from pclr_keras.weights.load import load_encoder
from pclr_keras.training.tensors import TensorizedECGs
from pclr_keras.evaluation.ptbxl.finetune import FinetuneBudget, finetune_run
from tensor_folders import C, L, write_tensors

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
BUDGET = FinetuneBudget(batch_size=8, frozen_epochs=1, max_epochs=4, patience=3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tensors(tmp_path_factory.mktemp("tensors"), [2] * 30)


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


class Killed(Exception):
    """Stands for the process dying during an epoch."""


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    ecgs = TensorizedECGs(write_tensors(tmp_path_factory.mktemp("tensors"), [2] * 30))
    folds = ecgs.labels.strat_fold.to_numpy()
    rows = np.arange(len(folds))
    y = np.stack([rows % 3 == 0, rows // 10 % 2 == 0], axis=1)
    return ecgs, y, folds


def run(task, seed=0, **options):
    ecgs, y, folds = task
    keras.utils.set_random_seed(seed)
    return finetune_run(tiny_encoder(), ecgs, y, folds, 1.0, seed=seed, budget=BUDGET, **options)


def assert_same_arrays(path, expected_path):
    with np.load(path) as saved, np.load(expected_path) as expected:
        assert sorted(saved) == sorted(expected)
        for key in expected:
            np.testing.assert_array_equal(saved[key], expected[key], err_msg=key)


def kill_at(epoch, lines):
    """A report that records its lines and dies while `epoch` is being saved."""
    def report(line):
        lines.append(line)
        if line.startswith(f"epoch {epoch}:"):
            raise Killed
    return report


@pytest.mark.parametrize("killed_in", [1, 2, 4])
def test_a_killed_run_continues_to_the_result_of_one_never_stopped(task, tmp_path, killed_in):
    # Epoch 1 is the head alone; 2 starts the whole network (a phase boundary);
    # 4 is mid-phase, with the optimizer's moments and patience to carry over.
    lines, finished = [], tmp_path / "whole.npz"
    whole = run(task, report=lines.append, checkpoint=finished)
    checkpoint = tmp_path / "run.npz"
    first = []
    with pytest.raises(Killed):
        run(task, report=kill_at(killed_in, first), checkpoint=checkpoint)
    assert checkpoint.exists() == (killed_in > 1)
    second = []
    resumed = run(task, report=second.append, checkpoint=checkpoint)
    assert resumed == whole
    assert_same_arrays(checkpoint, finished)  # weights, optimizer and best weights, bit for bit
    done = killed_in - 1
    if done:
        assert second[0] == f"continuing after epoch {done} from {checkpoint}"
        second = second[1:]
    assert first[:done] + second == lines  # every epoch scored once, as in the whole run
    again = []
    assert run(task, report=again.append, checkpoint=checkpoint) == whole
    assert again == [f"continuing after epoch {whole['epochs']} from {checkpoint}"]


def test_a_checkpoint_of_another_run_is_refused(task, tmp_path):
    checkpoint = tmp_path / "run.npz"
    with pytest.raises(Killed):
        run(task, report=kill_at(3, []), checkpoint=checkpoint)
    with pytest.raises(SystemExit, match=r"run\.npz holds another run .*'seed': 0.* not .*'seed': 1"):
        run(task, seed=1, checkpoint=checkpoint)


def test_the_benchmark_continues_an_unfinished_run_and_keeps_only_its_result(
        task, tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench", BENCHMARKS / "ptbxl_finetune.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ecgs, _, folds = task
    data = tmp_path / "tensors"
    shutil.copytree(ecgs.path, data)
    labels = pd.read_csv(data / "labels.csv")
    labels["scp_codes"] = [str({"IMI": 50.0} if k % 3 == 0 else {"NORM": 100.0})
                           for k in range(len(labels))]
    labels.to_csv(data / "labels.csv", index=False)
    statements = tmp_path / "scp_statements.csv"
    pd.DataFrame({"diagnostic": [1, 1], "diagnostic_class": ["MI", "NORM"]},
                 index=pd.Index(["IMI", "NORM"])).to_csv(statements)
    keras.utils.set_random_seed(0)
    tiny_encoder().save(tmp_path / "tiny.keras")
    budget = dict(batch_size=8, frozen_epochs=1, max_epochs=3, patience=3)
    runs = tmp_path / "out" / "runs"
    runs.mkdir(parents=True)
    y = np.stack([labels.index % 3 == 0, labels.index % 3 != 0], axis=1)
    finetune = functools.partial(finetune_run, ecgs=ecgs, y=y, folds=folds, fraction=1.0,
                                 seed=0, budget=FinetuneBudget(**budget))
    whole = finetune(load_encoder(tmp_path / "tiny.keras"))
    with pytest.raises(Killed):
        finetune(load_encoder(tmp_path / "tiny.keras"), report=kill_at(3, []),
                 checkpoint=runs / "tiny_superdiagnostic_1_seed0.npz")
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", [
        "ptbxl_finetune.py", "--data", str(data), "--statements", str(statements),
        "--out", str(tmp_path / "out"), "--start", f"tiny={tmp_path / 'tiny.keras'}",
        "--fractions", "1", "--budget", json.dumps(budget)])
    bench.main()
    printed = capsys.readouterr().out
    assert "tiny, superdiagnostic, 1, seed 0, continuing after epoch 2 from" in printed
    assert sorted(p.name for p in runs.iterdir()) == ["tiny_superdiagnostic_1_seed0.json"]
    row = json.loads((runs / "tiny_superdiagnostic_1_seed0.json").read_text())
    assert {k: row[k] for k in whole} == pytest.approx(whole)
    assert row["budget"] == dataclasses.asdict(FinetuneBudget(**budget))
    bench.main()  # finished runs are read back, not run again
    assert "continuing" not in capsys.readouterr().out
