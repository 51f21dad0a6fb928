"""Fine-tuning: frozen then unfrozen `model.fit`, saved as a plain Keras model."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from conftest import NARROW_ENCODER
from pclr_keras.models import build_encoder
from pclr_keras.training.finetune import FinetuneConfig, finetune
from pclr_keras.training.tensors import TensorizedECGs


def test_frozen_phase_keeps_encoder_and_unfrozen_phase_trains_it(synthetic_tensors, tmp_path):
    encoder = build_encoder("pclr", **NARROW_ENCODER)
    before = [w.copy() for w in encoder.get_weights()]
    ecgs = TensorizedECGs(synthetic_tensors)
    config = FinetuneConfig(targets={"sex": "binary", "age": "continuous"}, batch_size=16,
                            frozen_epochs=1, unfrozen_epochs=0)
    model, history = finetune(encoder, ecgs, config, tmp_path / "frozen", verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))
    assert set(history) == {"frozen"}
    assert np.isfinite(history["frozen"]["loss"]).all()

    config = FinetuneConfig(targets={"sex": "binary"}, batch_size=16, frozen_epochs=1,
                            unfrozen_epochs=1)
    _, history = finetune(encoder, ecgs, config, tmp_path / "both", verbose=0,
                          validation=TensorizedECGs(synthetic_tensors,
                                                    patients=[f"P{p:04d}" for p in range(40, 48)]))
    assert set(history) == {"frozen", "unfrozen"} and "val_loss" in history["unfrozen"]
    assert any(not np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))


def test_task_model_loads_without_pclr_keras(synthetic_tensors, tmp_path):
    ecgs = TensorizedECGs(synthetic_tensors)
    config = FinetuneConfig(targets={"sex": "binary", "age": "continuous"}, batch_size=16,
                            frozen_epochs=1, unfrozen_epochs=0)
    model, _ = finetune(build_encoder("pclr", **NARROW_ENCODER), ecgs, config, tmp_path,
                        verbose=0)
    x = ecgs.read_ecgs(np.arange(3))
    np.save(tmp_path / "x.npy", x)
    predicted = model.predict(x, verbose=0)
    expected = np.concatenate([predicted[name] for name in ("sex", "age")], axis=1)
    script = textwrap.dedent("""
        import sys, numpy as np, tensorflow as tf
        x = np.load(sys.argv[1] + "/x.npy")
        for name in ("task_model.keras", "task_model.h5"):
            out = tf.keras.models.load_model(sys.argv[1] + "/" + name).predict(x, verbose=0)
            np.save(sys.argv[1] + "/" + name + ".npy", np.concatenate([out["sex"], out["age"]], 1))
        assert not [m for m in sys.modules if m.startswith("pclr_keras")]
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("task_model.keras", "task_model.h5"):
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.npy"), expected,
                                   rtol=1e-5, atol=1e-6)


def test_bad_targets_are_refused(synthetic_tensors, tmp_path):
    with pytest.raises(ValueError, match="binary"):
        FinetuneConfig(targets={"sex": "categorical"})
    with pytest.raises(ValueError, match="expected 0/1"):
        finetune(build_encoder("pclr", **NARROW_ENCODER), TensorizedECGs(synthetic_tensors),
                 FinetuneConfig(targets={"age": "binary"}, frozen_epochs=1, unfrozen_epochs=0),
                 tmp_path, verbose=0)


@pytest.fixture(scope="module")
def age_cohort(synthetic_tensors):
    """An age a network can learn from the signal (decades apart with amplitude), and
    held-out patients."""
    ecgs = TensorizedECGs(synthetic_tensors)
    amplitude = np.abs(ecgs.read_ecgs(np.arange(len(ecgs.labels)))).mean(axis=(1, 2))
    age = 60 + 15 * (amplitude - amplitude.mean()) / amplitude.std()
    folder = synthetic_tensors.parent / "aged"
    if not folder.exists():
        import shutil

        shutil.copytree(synthetic_tensors, folder)
        labels = ecgs.labels.drop(columns=["age"], errors="ignore").assign(age=age)
        labels.to_csv(folder / "labels.csv", index=False)
    patients = sorted(set(ecgs.labels.patient_id))
    return folder, patients[::4], [p for p in patients if p not in patients[::4]]


@pytest.mark.slow
def test_age_is_learned_in_years_and_beats_the_training_mean(age_cohort, tmp_path):
    folder, held_out, training = age_cohort
    train, test = TensorizedECGs(folder, patients=training), TensorizedECGs(folder, patients=held_out)
    config = FinetuneConfig(targets={"sex": "binary", "age": "continuous"}, batch_size=16,
                            frozen_epochs=0, unfrozen_epochs=12, unfrozen_learning_rate=3e-3,
                            max_steps=5)
    model, history = finetune(build_encoder("pclr", **NARROW_ENCODER), train, config,
                              tmp_path, verbose=0)
    assert len(history["unfrozen"]["loss"]) == 12
    predicted = model.predict(test.read_ecgs(np.arange(len(test.labels))), verbose=0)["age"][:, 0]
    truth, mean = test.labels.age.to_numpy(), train.labels.age.mean()
    assert abs(np.median(predicted) - np.median(truth)) < 10  # years, not standardised units
    model_error = np.mean((predicted - truth) ** 2)
    assert model_error < 0.5 * np.mean((mean - truth) ** 2), (model_error, predicted[:5])


def test_continuous_predictions_come_out_in_the_targets_units(age_cohort, tmp_path):
    folder, _, training = age_cohort
    train = TensorizedECGs(folder, patients=training)
    config = FinetuneConfig(targets={"age": "continuous"}, batch_size=16, frozen_epochs=1,
                            unfrozen_epochs=0, max_steps=2)
    model, history = finetune(build_encoder("pclr", **NARROW_ENCODER), train, config,
                              tmp_path, verbose=0)
    # Before it has learned much, the model predicts about the training mean, in years;
    # the loss is in standardised units (about 1), and the MAE in years.
    x = train.read_ecgs(np.arange(8))
    ages = train.labels.age.to_numpy()
    for name in ("task_model.keras", "task_model.h5"):
        predicted = keras.models.load_model(tmp_path / name).predict(x, verbose=0)["age"]
        assert abs(np.mean(predicted) - ages.mean()) < 2 * ages.std(), predicted[:3]
    assert history["frozen"]["loss"][0] < 5 and 2 < history["frozen"]["mae"][0] < 40
