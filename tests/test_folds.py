"""Fold discipline: fold 9 chooses, fold 10 is read once, at the end, and never chooses;
folds inside a training subset are grouped by patient."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pclr_keras.cli import main as pclr_main
from pclr_keras.folds import SELECTION_FOLD, SelectionOnTestFoldError, cv_splits, guard_selection
from pclr_keras.training import PretrainConfig, Pretrainer
from pclr_keras.training.tensors import TensorizedECGs
from tensor_folders import write_tensors

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


def test_cv_splits_are_grouped_stratified_and_shrink_with_few_positives():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 3)
    y = np.zeros(120)
    y[[0, 1, 2, 30, 31, 60]] = 1                      # 3 patients with positives
    folds = cv_splits(y, groups, "binary", n_splits=5, seed=0)
    assert 2 <= len(folds) <= 3
    for train, validation in folds:
        assert not set(groups[train]) & set(groups[validation])
        assert set(y[train]) == {0.0, 1.0}
    continuous = cv_splits(rng.normal(size=120), groups, "continuous", n_splits=5)
    assert len(continuous) == 5
    assert sorted(np.concatenate([v for _, v in continuous])) == list(range(120))
    assert cv_splits(np.r_[np.ones(1), np.zeros(9)], np.arange(10), "binary") == []

