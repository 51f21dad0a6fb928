"""NT-Xent against a plain-numpy reference, on one replica and split over two."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import pclr_keras.training.losses as losses
from pclr_keras.training.losses import (nt_xent, nt_xent_and_pair_accuracy, pair_accuracy,
                                        simclr_accuracy, simclr_loss)


def numpy_nt_xent(z1, z2, temperature=0.1, negatives=None):
    """Textbook NT-Xent: each of the 2n ECGs against the 2n - 1 others (and any negatives)."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    sim = z @ z.T / temperature
    np.fill_diagonal(sim, -np.inf)
    if negatives is not None:
        negatives = negatives / np.linalg.norm(negatives, axis=1, keepdims=True)
        sim = np.concatenate([sim, z @ negatives.T / temperature], axis=1)
    positive = np.concatenate([np.arange(n, 2 * n), np.arange(n)])
    log_softmax = sim - np.log(np.exp(sim).sum(axis=1, keepdims=True))
    per_anchor = -log_softmax[np.arange(2 * n), positive]
    loss = per_anchor[:n].mean() + per_anchor[n:].mean()
    accuracy = (np.argmax(sim, axis=1) == positive).mean()
    return loss, accuracy


@pytest.mark.parametrize("batch,dim,seed", [(2, 4, 0), (8, 320, 1), (33, 16, 2)])
def test_nt_xent_matches_numpy(batch, dim, seed):
    rng = np.random.default_rng(seed)
    z1, z2 = rng.normal(size=(2, batch, dim)).astype("float32")
    z2 = z1 + 0.5 * z2  # related views, so the loss is not near its chance value
    expected_loss, expected_accuracy = numpy_nt_xent(z1, z2)
    np.testing.assert_allclose(nt_xent(z1, z2).numpy(), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(pair_accuracy(z1, z2).numpy(), expected_accuracy, atol=1e-6)


@pytest.mark.parametrize("extra", [1, 7])
def test_extra_negatives_join_every_anchors_denominator(extra):
    rng = np.random.default_rng(extra)
    z1, z2 = rng.normal(size=(2, 6, 16)).astype("float32")
    z2 = z1 + 0.5 * z2
    negatives = np.concatenate([z1[:2] + 0.3 * rng.normal(size=(2, 16)),  # near some anchors
                                rng.normal(size=(extra, 16))])[:extra].astype("float32")
    expected_loss, expected_accuracy = numpy_nt_xent(z1, z2, negatives=negatives)
    assert expected_loss > numpy_nt_xent(z1, z2)[0]
    np.testing.assert_allclose(nt_xent(z1, z2, negatives=negatives).numpy(), expected_loss,
                               rtol=1e-5)
    np.testing.assert_allclose(pair_accuracy(z1, z2, negatives=negatives).numpy(),
                               expected_accuracy, atol=1e-6)


@pytest.mark.parametrize("extra", [0, 3])
def test_loss_and_accuracy_from_one_logits_computation_match_each_alone(extra, monkeypatch):
    rng = np.random.default_rng(10 + extra)
    z1, z2 = rng.normal(size=(2, 6, 16)).astype("float32")
    z2 = z1 + 0.7 * z2
    negatives = rng.normal(size=(extra, 16)).astype("float32") if extra else None
    expected_loss, expected_accuracy = numpy_nt_xent(z1, z2, negatives=negatives)
    calls = []
    logits = losses.contrastive_logits
    monkeypatch.setattr(losses, "contrastive_logits",
                        lambda *args: calls.append(1) or logits(*args))
    loss, accuracy = nt_xent_and_pair_accuracy(z1, z2, 0.1, negatives)
    assert len(calls) == 1
    np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(accuracy.numpy(), expected_accuracy, atol=1e-6)
    assert loss.numpy() == nt_xent(z1, z2, 0.1, negatives).numpy()
    assert accuracy.numpy() == pair_accuracy(z1, z2, 0.1, negatives).numpy()


def test_keras_forms_split_the_batch_into_views():
    rng = np.random.default_rng(3)
    z1, z2 = rng.normal(size=(2, 6, 8)).astype("float32")
    stacked = np.concatenate([z1, z2])
    expected_loss, expected_accuracy = numpy_nt_xent(z1, z2)
    np.testing.assert_allclose(simclr_loss(None, stacked).numpy(), expected_loss, rtol=1e-5)
    np.testing.assert_allclose(simclr_accuracy(None, stacked).numpy(), expected_accuracy)


def test_loss_is_scale_invariant_and_rewards_matching_pairs():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(16, 32)).astype("float32")
    matched = nt_xent(z, 3.0 * z).numpy()
    shuffled = nt_xent(z, z[::-1]).numpy()
    assert matched < shuffled
    assert pair_accuracy(z, 3.0 * z).numpy() == 1.0
    # 2n - 1 candidates each; identical views put the positive at cosine 1.
    assert matched < 2 * np.log(2 * 16 - 1)


def test_gradient_is_finite_with_masked_self_similarity():
    z1 = tf.Variable(np.random.default_rng(5).normal(size=(4, 8)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = nt_xent(z1, z1 * 2.0)
    assert np.isfinite(tape.gradient(loss, z1).numpy()).all()


TWO_REPLICAS = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from pclr_keras.training.losses import nt_xent, nt_xent_and_pair_accuracy, pair_accuracy
    rng = np.random.default_rng(7)
    z1, z2 = rng.normal(size=(2, 8, 16)).astype("float32")
    z2 = z1 + z2
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    negatives = rng.normal(size=(6, 16)).astype("float32")
    def shard(context):
        i = context.replica_id_in_sync_group
        return (tf.constant(z1[4 * i:4 * i + 4]), tf.constant(z2[4 * i:4 * i + 4]),
                tf.constant(negatives[3 * i:3 * i + 3]))
    views = strategy.experimental_distribute_values_from_function(shard)
    def step(views):
        return (nt_xent(*views[:2]), pair_accuracy(*views[:2]),
                nt_xent(views[0], views[1], negatives=views[2]),
                *nt_xent_and_pair_accuracy(views[0], views[1], negatives=views[2]))
    losses, accuracies, with_negatives, both_loss, both_accuracy = strategy.run(step, args=(views,))
    mean = lambda value: strategy.reduce("MEAN", value, axis=None).numpy()
    print(mean(losses), nt_xent(z1, z2).numpy(), mean(accuracies), pair_accuracy(z1, z2).numpy(),
          mean(with_negatives), nt_xent(z1, z2, negatives=negatives).numpy(), mean(both_loss),
          mean(both_accuracy), pair_accuracy(z1, z2, negatives=negatives).numpy())
""")


def test_two_replicas_use_global_batch_negatives():
    result = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr[-2000:]
    (split_loss, global_loss, split_accuracy, global_accuracy, split_extra, global_extra,
     split_both_loss, split_both_accuracy, global_extra_accuracy) = map(
        float, result.stdout.split()[-9:])
    assert split_loss == pytest.approx(global_loss, rel=1e-5)
    assert split_accuracy == pytest.approx(global_accuracy)
    assert split_extra == pytest.approx(global_extra, rel=1e-5) and split_extra > split_loss
    assert split_both_loss == pytest.approx(global_extra, rel=1e-5)
    assert split_both_accuracy == pytest.approx(global_extra_accuracy)
