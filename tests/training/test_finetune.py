"""Fine-tuning: frozen then unfrozen `model.fit`, saved as a plain Keras model."""

import subprocess
import sys
import textwrap

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
