"""Fold discipline: fold 9 chooses, fold 10 is read once, at the end, and never chooses."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pclr_keras.cli import main as pclr_main
from pclr_keras.data import TensorizedECGs
from pclr_keras.folds import SELECTION_FOLD, SelectionOnTestFoldError, guard_selection
from pclr_keras.training import PretrainConfig, Pretrainer
from test_data import write_tensors

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

