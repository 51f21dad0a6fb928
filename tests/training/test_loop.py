"""Pre-training: learns on held-out patients, resumes after SIGKILL, splits don't matter."""

import dataclasses
import hashlib
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import NARROW_ENCODER
from pclr_keras.cli import main as pclr_main
from pclr_keras.training import PretrainConfig, Pretrainer
from pclr_keras.training.labelled import labelled_dataset
from pclr_keras.training.pairs import pretraining_dataset
from pclr_keras.training.tensors import TensorizedECGs
from test_losses import numpy_nt_xent

REPO = Path(__file__).resolve().parents[2]
TRAIN_PATIENTS = [f"P{p:04d}" for p in range(32)]
HELD_OUT = [f"P{p:04d}" for p in range(32, 48)]


def h5_weights(path):
    """All weight arrays of a Keras .h5 file, in file order."""
    arrays = []
    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(
            lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_short_run_learns_on_held_out_patients(synthetic_tensors, tmp_path):
    config = PretrainConfig(batch_size=16, steps=60, learning_rate=3e-3, checkpoint_every=20,
                            steps_per_loop=10, encoder=NARROW_ENCODER)
    trainer = Pretrainer(config, TensorizedECGs(synthetic_tensors, patients=TRAIN_PATIENTS),
                         tmp_path, validation=TensorizedECGs(synthetic_tensors, patients=HELD_OUT))
    result = trainer.fit(progress=False)
    before, after = result["validation"][0], result["validation"][-1]
    assert (before["step"], after["step"]) == (0, 60)
    assert after["loss"] < before["loss"]
    assert after["pair_accuracy"] > before["pair_accuracy"]
    for name in ("PCLR.h5", "PCLR.keras", "PCLR/1/saved_model.pb", "config.json",
                 "history.json", "checkpoints/checkpoint", "logs"):
        assert (tmp_path / name).exists(), name
    history = json.loads((tmp_path / "history.json").read_text())
    # Two steps per epoch (32 patients, 16 a batch): the loop stops at each epoch's end.
    assert [r["step"] for r in history["train"]] == list(range(2, 62, 2))
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("*.index")) == \
        ["ckpt-56.index", "ckpt-58.index", "ckpt-60.index"]
    assert all(r["ecgs_per_second"] > 0 for r in history["train"])


PRETRAIN_ARGS = ["pretrain", "--batch-size", "8", "--steps", "24", "--checkpoint-every", "4",
                 "--seed", "3", "--encoder-json", json.dumps(NARROW_ENCODER)]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_killed_run_resumes_to_the_same_weights(synthetic_tensors, tmp_path, precision):
    command = [sys.executable, "-m", "pclr_keras.cli", *PRETRAIN_ARGS, "--data",
               str(synthetic_tensors), "--precision", precision]
    killed = tmp_path / "killed"
    process = subprocess.Popen(command + ["--out", str(killed)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.time() + 240
    while time.time() < deadline and not list((killed / "checkpoints").glob("ckpt-8.index")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list((killed / "checkpoints").glob("ckpt-8.index")), "no checkpoint before the kill"
    assert not (killed / "PCLR.h5").exists(), "the kill should land mid-run"

    resumed = subprocess.run(command + ["--out", str(killed)], capture_output=True, text=True,
                             cwd=REPO)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = subprocess.run(command + ["--out", str(tmp_path / "whole")], capture_output=True,
                           text=True, cwd=REPO)
    assert whole.returncode == 0, whole.stderr[-3000:]
    for a, b in zip(h5_weights(killed / "PCLR.h5"), h5_weights(tmp_path / "whole" / "PCLR.h5")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_too_few_patients_for_the_batch_is_a_clear_error(synthetic_tensors, tmp_path):
    with pytest.raises(SystemExit, match="48 patients with >= 2 ECGs"):
        pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path),
                   "--batch-size", "64", "--encoder-json", json.dumps(NARROW_ENCODER)])


def first_batch(objective, ecgs, targets):
    """The first global batch a run of `objective` (seed 0, batch 8) trains on, by the data API."""
    if objective in ("pclr", "simclr", "clocs"):
        return next(iter(pretraining_dataset(ecgs, 8, objective=objective, seed=0)))
    return next(iter(labelled_dataset(ecgs, 8, targets=targets, seed=0)))


def reference_loss(objective, model, batch, targets):
    """The objective's loss in numpy, from the model's outputs in training mode."""
    if objective in ("pclr", "simclr", "clocs"):
        view1, view2 = (np.asarray(view) for view in batch)
        projections = np.asarray(model(np.concatenate([view1, view2]), training=True))
        return numpy_nt_xent(projections[:len(view1)], projections[len(view1):])[0]
    if objective == "autoencoder":
        x = np.asarray(batch, np.float64)
        return np.log(np.cosh(np.asarray(model(batch, training=True), np.float64) - x)).mean()
    x, labels = batch
    outputs = model(x, training=True)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    loss = 0.0
    for name, output in zip(targets, outputs):
        # Keras takes the cross-entropy of a sigmoid layer's output from its logits.
        probability = np.asarray(output, np.float64)
        logits = np.log(probability) - np.log1p(-probability)
        log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        loss += -(np.asarray(labels[name]) * log_softmax).sum(1).mean()
    return loss


@pytest.mark.parametrize("objective,extra", [
    ("pclr", {}), ("simclr", {}), ("clocs", {}), ("autoencoder", {}),
    ("supervised", {"targets": ("sex",)})])
def test_every_objective_trains_its_own_loss_through_the_same_entry_point(
        synthetic_tensors, tmp_path, objective, extra):
    encoder = dict(NARROW_ENCODER, unit_filters=(8, 12, 16, 320)) \
        if objective == "autoencoder" else NARROW_ENCODER
    config = PretrainConfig(objective=objective, batch_size=8, steps=2, encoder=encoder, **extra)
    ecgs = TensorizedECGs(synthetic_tensors)
    trainer = Pretrainer(config, ecgs, tmp_path / "run")
    initial = [np.array(w) for w in trainer.encoder.trainable_weights]
    state = [np.array(v) for v in trainer.model.variables]  # with dropout's seed states
    result = trainer.fit(progress=False)
    assert np.isfinite(result["train"]["loss"])
    assert (tmp_path / "run" / "PCLR.h5").exists()
    # The first step's loss is the objective's own, on its first batch, from the initial
    # weights: a twin model in the trainer's initial state (dropout draws too) recomputes it.
    twin = Pretrainer(config, ecgs, tmp_path / "twin")
    for variable, value in zip(twin.model.variables, state, strict=True):
        variable.assign(value)
    expected = reference_loss(objective, twin.model, first_batch(objective, ecgs, config.targets),
                              config.targets)
    reported = json.loads((tmp_path / "run" / "history.json").read_text())["train"][0]
    assert reported["step"] == 1
    assert reported["loss"] == pytest.approx(expected, rel=1e-4)
    # Training moved every trainable weight of the encoder, down to its first layer.
    unchanged = [w.path for w, start in zip(trainer.encoder.trainable_weights, initial)
                 if np.array_equal(np.asarray(w), start)]
    assert unchanged == []


TWO_REPLICAS = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    replicas = int(sys.argv[3])
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from pclr_keras.training import PretrainConfig, Pretrainer
    from pclr_keras.training.tensors import TensorizedECGs
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
    config = PretrainConfig(batch_size=8, steps=1, checkpoint_every=1, optimizer="sgd",
                            learning_rate=0.1, warmup_fraction=0.0, encoder=json.loads(sys.argv[4]),
                            precision=sys.argv[5])
    trainer = Pretrainer(config, TensorizedECGs(sys.argv[1]), sys.argv[2], strategy=strategy)
    initial = trainer.model.get_weights()
    result = trainer.fit(progress=False)
    np.savez(sys.argv[2] + "/weights.npz", *trainer.model.get_weights())
    np.savez(sys.argv[2] + "/initial.npz", *initial)
    print(json.dumps(result["train"]))
""")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_two_replicas_match_one_on_the_global_batch(synthetic_tensors, tmp_path, precision):
    """Global-batch negatives and synchronised batch norm: the split does not matter."""
    runs = {}
    for replicas in (1, 2):
        out = tmp_path / f"replicas{replicas}"
        out.mkdir()
        result = subprocess.run(
            [sys.executable, "-c", TWO_REPLICAS, str(synthetic_tensors), str(out), str(replicas),
             json.dumps(NARROW_ENCODER), precision], capture_output=True, text=True, cwd=REPO,
            timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[replicas] = (json.loads(result.stdout.splitlines()[-1]),
                          list(np.load(out / "weights.npz").values()),
                          list(np.load(out / "initial.npz").values()))
    if precision == "float32":
        assert runs[2][0]["loss"] == pytest.approx(runs[1][0]["loss"], rel=1e-5)
    else:
        # bfloat16 keeps 8 bits of mantissa, and a convolution over 4 ECGs rounds
        # otherwise than over 8. Measured on a CPU with AVX512_BF16: the loss moved by
        # 0.55 % and each weight's update kept a cosine of at least 0.987 (median
        # 0.999); without synchronised batch norm the loss moved by 26 % and some
        # updates turned round (cosine -0.25, median 0.71). The bounds sit between.
        assert runs[2][0]["loss"] == pytest.approx(runs[1][0]["loss"], rel=2e-2)
    assert runs[2][0]["pair_accuracy"] == pytest.approx(runs[1][0]["pair_accuracy"])
    assert_same_update(runs[1][2], runs[1][1], runs[2][2], runs[2][1],
                       rounding="float32" if precision == "float32" else "16-bit")


def assert_same_update(initial_a, after_a, initial_b, after_b, rounding="float32"):
    """Same start, and the same step: updates far larger than their difference.

    `rounding="16-bit"`: instead of float32's tolerances, the two updates of
    each weight point the same way: cosine at least 0.9 for every weight and
    0.99 for the median weight.
    """
    moved, cosines = 0.0, []
    for start_a, end_a, start_b, end_b in zip(initial_a, after_a, initial_b, after_b):
        np.testing.assert_array_equal(start_a, start_b)
        if rounding == "float32":
            np.testing.assert_allclose(end_a, end_b, rtol=1e-3, atol=5e-5)
        else:
            step_a, step_b = (end_a - start_a).ravel(), (end_b - start_b).ravel()
            if np.any(step_a):
                cosines.append(step_a @ step_b / np.linalg.norm(step_a) / np.linalg.norm(step_b))
        moved = max(moved, float(np.abs(end_a - start_a).max()))
    assert moved > 1e-2
    if cosines:
        assert min(cosines) >= 0.9 and np.median(cosines) >= 0.99, (min(cosines),
                                                                    np.median(cosines))


OPTIONS = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    from pclr_keras.training import PretrainConfig, Pretrainer
    from pclr_keras.training.tensors import TensorizedECGs
    xla = sys.argv[2] == "xla"
    config = PretrainConfig(batch_size=8, steps=2, encoder=json.loads(sys.argv[3]),
                            precision="float32" if xla else sys.argv[2], jit_compile=xla)
    trainer = Pretrainer(config, TensorizedECGs(sys.argv[1]), sys.argv[4])
    result = trainer.fit(progress=False)
    exported = tf.keras.models.load_model(sys.argv[4] + "/PCLR.h5")
    print(json.dumps([result["train"]["loss"], exported.layers[1].dtype_policy.name,
                      trainer.model.layers[1].dtype_policy.name,
                      type(trainer.optimizer).__name__]))
""")


@pytest.mark.parametrize("option,policy,optimizer", [
    ("float16", "mixed_float16", "LossScaleOptimizer"),
    ("bfloat16", "mixed_bfloat16", "Adam"),  # float32's range: no loss scaling
    ("xla", "float32", "Adam")])
def test_reduced_precision_and_xla_train_and_export_float32(synthetic_tensors, tmp_path, option,
                                                             policy, optimizer):
    result = subprocess.run(
        [sys.executable, "-c", OPTIONS, str(synthetic_tensors), option,
         json.dumps(NARROW_ENCODER), str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loss, exported, trained, optimizer_class = json.loads(result.stdout.splitlines()[-1])
    assert np.isfinite(loss) and exported == "float32"
    assert (trained, optimizer_class) == (policy, optimizer)


def test_augmented_patient_pairs_and_temperature_from_the_cli(synthetic_tensors, tmp_path):
    losses = {}
    for name, extra in (("plain", []), ("augmented", ["--augment", "--temperature", "0.2"])):
        out = tmp_path / name
        assert pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(out),
                          "--batch-size", "8", "--steps", "1", "--encoder-json",
                          json.dumps(NARROW_ENCODER), *extra]) == 0
        config = json.loads((out / "config.json").read_text())
        losses[name] = json.loads((out / "history.json").read_text())["train"][0]["loss"]
    assert config["augment"] is True and config["temperature"] == 0.2
    # Same seed, weights and patients: only the augmentations and temperature differ.
    assert losses["plain"] != pytest.approx(losses["augmented"], rel=1e-3)


def test_init_weights_start_the_encoder_and_a_resumed_run_keeps_its_checkpoint(
        synthetic_tensors, tmp_path):
    from pclr_keras.weights.load import load_encoder

    assert pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path / "a"),
                      "--batch-size", "8", "--steps", "2", "--lr", "1e-2",
                      "--encoder-json", json.dumps(NARROW_ENCODER)]) == 0
    source = tmp_path / "a" / "PCLR.h5"
    expected = load_encoder(source).get_weights()
    ecgs = TensorizedECGs(synthetic_tensors)
    config = PretrainConfig(batch_size=8, steps=2, seed=5, encoder=NARROW_ENCODER,
                            init_weights=str(source))
    started = Pretrainer(config, ecgs, tmp_path / "b")
    for got, want in zip(started.encoder.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    fresh = Pretrainer(dataclasses.replace(config, init_weights=""), ecgs, tmp_path / "fresh")
    assert not np.array_equal(fresh.encoder.get_weights()[0], expected[0])

    started.fit(progress=False)
    recorded = json.loads((tmp_path / "b" / "config.json").read_text())
    assert recorded["init_weights"] == str(source)
    assert recorded["init_weights_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    trained = h5_weights(tmp_path / "b" / "PCLR.h5")
    source.rename(tmp_path / "moved.h5")  # a resumed run needs its checkpoint, not the file
    Pretrainer(config, ecgs, tmp_path / "b").fit(progress=False)  # resumes at its last step
    for a, b in zip(h5_weights(tmp_path / "b" / "PCLR.h5"), trained, strict=True):
        np.testing.assert_array_equal(a, b)
    resumed = json.loads((tmp_path / "b" / "config.json").read_text())
    assert resumed["init_weights_sha256"] == recorded["init_weights_sha256"]


def test_init_weights_of_another_architecture_or_no_file_are_clear_errors(
        synthetic_tensors, tmp_path, capsys):
    assert pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path / "a"),
                      "--batch-size", "8", "--steps", "1",
                      "--encoder-json", json.dumps(NARROW_ENCODER)]) == 0
    wider = dict(NARROW_ENCODER, stem_filters=12)
    with pytest.raises(SystemExit, match=r"--init-weights .*PCLR.h5: its encoder .* is not the "
                                         r"one this run builds \(variant 'pclr'"):
        pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path / "b"),
                   "--batch-size", "8", "--steps", "1", "--encoder-json", json.dumps(wider),
                   "--init-weights", str(tmp_path / "a" / "PCLR.h5")])
    capsys.readouterr()
    with pytest.raises(SystemExit) as raised:  # a missing path: one line, exit 2
        pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path / "c"),
                   "--batch-size", "8", "--steps", "1", "--encoder-json",
                   json.dumps(NARROW_ENCODER), "--init-weights", str(tmp_path / "missing.h5")])
    assert raised.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and re.search(r"No model at .*missing\.h5", error[0])


def test_extra_negatives_of_one_ecg_patients_train_and_raise_the_loss(synthetic_tensors, tmp_path):
    # Dropping a second ECG from 8 patients leaves some with one ECG: the negatives' pool.
    ecgs = TensorizedECGs(synthetic_tensors, label_filter="not (ecg_id.str.endswith('_e1') "
                                                         "and patient_id < 'P0008')")
    first_losses = {}
    for extra in (0, 4):
        config = PretrainConfig(batch_size=8, steps=2, encoder=NARROW_ENCODER,
                                extra_negatives=extra)
        result = Pretrainer(config, ecgs, tmp_path / str(extra)).fit(progress=False)
        assert np.isfinite(result["train"]["loss"])
        history = json.loads((tmp_path / str(extra) / "history.json").read_text())
        first_losses[extra] = history["train"][0]["loss"]
    # Same weights and pairs; four more candidates in every softmax.
    assert first_losses[4] > first_losses[0]
    with pytest.raises(SystemExit, match="has 0 ECGs of patients with a single ECG, fewer "
                                         "than 2 extra negatives"):
        pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path / "c"),
                   "--batch-size", "8", "--steps", "1", "--extra-negatives", "2",
                   "--encoder-json", json.dumps(NARROW_ENCODER)])


def test_single_ecg_pairs_train_and_are_counted_in_the_throughput(synthetic_tensors, tmp_path):
    ecgs = TensorizedECGs(synthetic_tensors, label_filter="not (ecg_id.str.endswith('_e1') "
                                                         "and patient_id < 'P0008')")
    config = PretrainConfig(batch_size=8, steps=2, encoder=NARROW_ENCODER, single_ecg_pairs=4)
    trainer = Pretrainer(config, ecgs, tmp_path / "a")
    assert trainer.objective.ecgs_per_step == 2 * (8 + 4)
    assert np.isfinite(trainer.fit(progress=False)["train"]["loss"])
    args = ["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path / "b"),
            "--batch-size", "8", "--steps", "1", "--encoder-json", json.dumps(NARROW_ENCODER)]
    with pytest.raises(SystemExit, match="has 0 ECGs of patients with a single ECG, fewer "
                                         "than 2 single-ECG pairs"):
        pclr_main(args + ["--single-ecg-pairs", "2"])
    with pytest.raises(SystemExit, match="either as extra negatives or as single-ECG pairs"):
        pclr_main(args + ["--single-ecg-pairs", "2", "--extra-negatives", "2"])


def test_mixed_precision_flag_means_float16_and_a_run_resumes_only_in_its_precision(
        synthetic_tensors, tmp_path, capsys):
    args = ["pretrain", "--data", str(synthetic_tensors), "--out", str(tmp_path), "--batch-size",
            "8", "--steps", "1", "--encoder-json", json.dumps(NARROW_ENCODER)]
    assert pclr_main(args + ["--mixed-precision"]) == 0
    assert "--mixed-precision is deprecated; it means --precision float16" in \
        capsys.readouterr().err
    assert json.loads((tmp_path / "config.json").read_text())["precision"] == "float16"
    with pytest.raises(SystemExit, match="was started in precision float16; resume it with "
                                         "--precision float16"):
        pclr_main(args[:-4] + ["--steps", "2", "--precision", "bfloat16"] + args[-2:])
    with pytest.raises(SystemExit, match="--mixed-precision means --precision float16"):
        pclr_main(args + ["--mixed-precision", "--precision", "bfloat16"])


def test_lead_masked_pretraining_from_the_cli_records_its_masking_and_changes_the_loss(
        synthetic_tensors, tmp_path, capsys):
    losses = {}
    for name, extra in (("plain", []),
                        ("masked", ["--lead-mask", "1", "--lead-sets", "I;limb;V1,V2"])):
        out = tmp_path / name
        assert pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out", str(out),
                          "--batch-size", "8", "--steps", "1", "--encoder-json",
                          json.dumps(NARROW_ENCODER), *extra]) == 0
        config = json.loads((out / "config.json").read_text())
        losses[name] = json.loads((out / "history.json").read_text())["train"][0]["loss"]
    assert config["lead_mask"] == 1.0 and config["lead_sets"] == ["I", "limb", "V1,V2"]
    # Same seed, weights and patients: only the masked leads differ.
    assert losses["plain"] != pytest.approx(losses["masked"], rel=1e-3)
    for bad, message in ((["--lead-mask", "1.5"], r"lead_mask must be in \[0, 1\]"),
                         (["--lead-mask", "0.5", "--lead-sets", "I;X9"], "Unknown lead"),
                         (["--lead-mask", "0.5", "--objective", "autoencoder"],
                          "lead masking is for the contrastive objectives")):
        with pytest.raises(SystemExit, match=message):
            pclr_main(["pretrain", "--data", str(synthetic_tensors), "--out",
                       str(tmp_path / "bad"), "--steps", "1", *bad])
