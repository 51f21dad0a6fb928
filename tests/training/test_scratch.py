"""The supervised-from-scratch baseline: budget, learning, caching, its experiment rows."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import NARROW_ENCODER
from pclr_keras.evaluation.probe import probe
from pclr_keras.evaluation.experiment import SCRATCH, run_experiment
from pclr_keras.evaluation.features import handcrafted_from_tensors
from pclr_keras.training.scratch import ScratchBaseline, ScratchConfig, build_scratch_model
from pclr_keras.training.tensors import TensorizedECGs

FAST = ScratchConfig(encoder=NARROW_ENCODER, batch_size=16, learning_rate=3e-3, epochs=20,
                     min_steps=10, max_steps=80)
HELD_OUT = "patient_id >= 'P0036'"  # 12 of the synthetic cohort's 48 patients


def test_step_budget_clips_epochs():
    config = ScratchConfig(batch_size=32, epochs=10, min_steps=50, max_steps=150)
    assert config.epochs_for(40) == 25     # 2 steps an epoch: 20 steps raised to 50
    assert config.epochs_for(200) == 10    # 7 steps an epoch: 70 steps, inside the budget
    assert config.epochs_for(800) == 6     # 25 steps an epoch: 250 steps cut to 150
    assert config.epochs_for(10_000) == 1  # never less than one pass
    with pytest.raises(ValueError, match="min_steps"):
        ScratchConfig(min_steps=10, max_steps=5)


def test_model_is_the_encoder_with_dropout_and_one_output():
    model = build_scratch_model("binary", ScratchConfig())
    assert model.input_shape == (None, 4096, 12) and model.output_shape == (None, 1)
    assert model.get_layer("embed").output.shape[-1] == 320
    assert sum(layer.__class__.__name__ == "Dropout" for layer in model.layers) > 0
    assert model.get_layer("output").activation.__name__ == "sigmoid"
    assert build_scratch_model("continuous", ScratchConfig()).get_layer(
        "output").activation.__name__ == "linear"


@pytest.fixture(scope="module")
def amplitude_task(synthetic_tensors):
    """A target a network can learn from the signal: is the ECG's amplitude above median?"""
    ecgs = TensorizedECGs(synthetic_tensors)
    amplitude = np.abs(ecgs.read_ecgs(np.arange(len(ecgs.labels)))).mean(axis=(1, 2))
    labels = ecgs.labels[["ecg_id", "patient_id"]].assign(
        high=(amplitude > np.median(amplitude)).astype(int), amplitude=amplitude)
    patients = np.unique(labels.patient_id)
    test = labels.patient_id.isin(patients[::4]).to_numpy()
    return labels, test


@pytest.mark.slow
def test_learns_a_learnable_target_on_held_out_patients(synthetic_tensors, amplitude_task):
    labels, test = amplitude_task
    train, held_out = labels[~test], labels[test]
    baseline = ScratchBaseline(synthetic_tensors, FAST)
    with pytest.raises(KeyError, match="not in"):
        baseline(np.array(["no-such-ecg"]), np.array([1]), np.array(["p"]),
                 held_out.ecg_id.to_numpy(), task="binary", seed=0)
    scores = baseline(train.ecg_id.to_numpy(), train.high.to_numpy(),
                      train.patient_id.to_numpy(), held_out.ecg_id.to_numpy(),
                      task="binary", seed=0)
    assert scores.shape == (len(held_out),) and np.isfinite(scores).all()
    assert roc_auc_score(held_out.high, scores) > 0.8
    # A continuous target spread over decades of "age" comes back on its own scale,
    # closer to the truth than the training mean is.
    age = 60 + 15 * (labels.amplitude - labels.amplitude.mean()) / labels.amplitude.std()
    assert age[~test].max() - age[~test].min() > 40
    values = baseline(train.ecg_id.to_numpy(), age[~test].to_numpy(),
                      train.patient_id.to_numpy(), held_out.ecg_id.to_numpy(),
                      task="continuous", seed=0)
    truth = age[test].to_numpy()
    assert abs(np.median(values) - np.median(truth)) < 10
    model_error = np.mean((values - truth) ** 2)
    mean_error = np.mean((age[~test].mean() - truth) ** 2)
    assert model_error < 0.5 * mean_error, (model_error, mean_error)


def test_predictions_are_cached_per_subset(synthetic_tensors, amplitude_task, tmp_path,
                                           monkeypatch):
    labels, test = amplitude_task
    train, held_out = labels[~test].head(30), labels[test]
    args = (train.ecg_id.to_numpy(), train.high.to_numpy(), train.patient_id.to_numpy(),
            held_out.ecg_id.to_numpy())
    fits = []

    def fake_fit(self, *args, task, seed):
        fits.append(seed)
        return np.random.default_rng(seed).random(len(args[3]))

    monkeypatch.setattr(ScratchBaseline, "fit_predict", fake_fit)
    baseline = ScratchBaseline(synthetic_tensors, FAST, cache_dir=tmp_path / "cache")
    first = baseline(*args, task="binary", seed=1)
    again = ScratchBaseline(synthetic_tensors, FAST, cache_dir=tmp_path / "cache")(
        *args, task="binary", seed=1)
    np.testing.assert_array_equal(first, again)
    assert fits == [1] and len(list((tmp_path / "cache").glob("*.npy"))) == 1
    baseline(*args, task="binary", seed=2)                       # another subset seed
    ScratchBaseline(synthetic_tensors, ScratchConfig(max_steps=90), cache_dir=tmp_path / "cache")(
        *args, task="binary", seed=1)                            # another budget
    assert fits == [1, 2, 1]


def test_experiment_adds_scratch_rows_on_the_probes_subsets(synthetic_tensors, tmp_path,
                                                            monkeypatch):
    seen = []

    def fake_fit(self, train_ecg_ids, y_train, train_patients, test_ecg_ids, *, task, seed):
        seen.append((task, list(train_ecg_ids), list(test_ecg_ids)))
        return np.random.default_rng(seed).random(len(test_ecg_ids))

    monkeypatch.setattr(ScratchBaseline, "fit_predict", fake_fit)
    out = tmp_path / "experiment"
    summary, _ = run_experiment(
        synthetic_tensors, out, {}, targets={"sex": "binary", "age": "continuous"},
        test=HELD_OUT, label_counts=(20, 40), repeats=2, scratch=FAST, scratch_label_counts=(20,),
        scratch_repeats=1, progress=False)
    scratch_rows = summary[summary.representation == SCRATCH]
    assert set(scratch_rows.target) == {"sex", "age"}
    assert set(scratch_rows.n_labels) == {20} and (scratch_rows.repeats == 1).all()
    assert [task for task, *_ in seen] == ["binary", "continuous"]
    # The network got exactly the ECGs the linear probe of (20 labels, repeat 0) got.
    labels = pd.read_csv(synthetic_tensors / "labels.csv", dtype={"ecg_id": str,
                                                                 "patient_id": str})
    features = handcrafted_from_tensors(synthetic_tensors, progress=False)
    linear = probe({"features": features}, labels, "sex", task="binary", label_counts=(20,),
                   repeats=1, test=HELD_OUT, bootstrap=0)
    assert seen[0][1] == list(linear.splits[0]["train_ecg_ids"])
    assert seen[0][2] == list(linear.splits[0]["test_ecg_ids"])
    report = (out / "probe_results.md").read_text()
    assert report.count(SCRATCH) >= 2
    assert f"Fewer repeats for {SCRATCH}: 20: 1." in report   # the header says 2
    recorded = json.loads((out / "experiment.json").read_text())
    assert SCRATCH in recorded["representations"]
    assert recorded["scratch"]["max_steps"] == FAST.max_steps
    assert recorded["scratch"]["label_counts"] == [20]


def test_cli_refuses_an_unknown_scratch_setting(tmp_path):
    from pclr_keras.cli import main as pclr_main

    with pytest.raises(SystemExit, match="--scratch-config.*max_step"):
        pclr_main(["experiment", "--data", str(tmp_path), "--out", str(tmp_path / "out"),
                   "--scratch", "--scratch-config", '{"max_step": 300}'])
