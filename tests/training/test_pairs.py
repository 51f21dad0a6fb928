"""The contrastive objectives' batches, by name: pairs, views, resumption, replicas, extras."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from conftest import require_shared
from pclr_keras.tensorize import TensorizeSettings, read_manifest, tensorize
from pclr_keras.training.augment import AugmentConfig
from pclr_keras.training.pairs import pretraining_dataset, steps_per_epoch
from pclr_keras.training.tensors import TensorizedECGs
from tensor_folders import (ecgs, folder,  # noqa: F401 (fixtures)
                            C, L, fake_contexts, ids, patient_of, take,
                            write_tensors)


def test_pclr_batches_pair_two_different_ecgs_of_distinct_patients(ecgs):
    assert steps_per_epoch(ecgs, 5) == 3  # 16 pair patients, one dropped per epoch
    batches = take(pretraining_dataset(ecgs, 5, seed=3), 3 * 4)
    epochs = []
    for step, (view1, view2) in enumerate(batches):
        assert view1.shape == view2.shape == (5, L, C) and view1.dtype == np.float32
        first, second = ids(view1), ids(view2)
        assert (first != second).all()  # two different ECGs ...
        patients = patient_of(ecgs, first)
        np.testing.assert_array_equal(patients, patient_of(ecgs, second))  # ... of one patient
        assert len(set(patients)) == 5 and "" not in patients
        if step % 3 == 0:
            epochs.append([])
        epochs[-1] += list(patients)
    for epoch in epochs:  # every patient at most once an epoch, 15 of the 16
        assert len(set(epoch)) == 15 and set(epoch) <= set(ecgs.pair_patients)
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    assert set().union(*epochs) == set(ecgs.pair_patients)
    # the documented seeding: epoch e permutes the pair patients with default_rng([seed, e])
    order = np.random.default_rng([3, 1]).permutation(16)[:5]
    np.testing.assert_array_equal(patient_of(ecgs, ids(batches[3][0])),
                                  np.array(ecgs.pair_patients)[order])


def test_pclr_pairs_cover_a_patients_ecgs_and_are_reproducible(ecgs):
    dataset = pretraining_dataset(ecgs, 8, seed=11)
    pairs = [(a, b) for v1, v2 in take(dataset, 100) for a, b in zip(ids(v1), ids(v2))]
    patient = ecgs.labels.patient_id.to_numpy()
    five = set(np.flatnonzero(patient == "p004"))
    assert {e for pair in pairs for e in pair if patient[e] == "p004"} == five
    again = [(a, b) for v1, v2 in take(pretraining_dataset(ecgs, 8, seed=11), 100)
             for a, b in zip(ids(v1), ids(v2))]
    assert again == pairs
    other = [(a, b) for v1, v2 in take(pretraining_dataset(ecgs, 8, seed=12), 100)
             for a, b in zip(ids(v1), ids(v2))]
    assert other != pairs


@pytest.mark.parametrize("objective", ["pclr", "simclr", "clocs"])
def test_start_step_continues_exactly_where_an_uninterrupted_run_is(ecgs, objective):
    batch = 4
    steps = steps_per_epoch(ecgs, batch, objective)
    full = take(pretraining_dataset(ecgs, batch, objective=objective, seed=5), 2 * steps + 3)
    start = steps + 2  # inside the second epoch
    resumed = take(pretraining_dataset(ecgs, batch, objective=objective, seed=5,
                                       start_step=start), len(full) - start)
    for a, b in zip(full[start:], resumed, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def global_batches(make, pipelines, replicas, steps):
    """Per-step concatenation of what every replica of every pipeline gets."""
    local = replicas // pipelines
    per_pipeline = [take(make(context), steps * local)
                    for context in fake_contexts(pipelines, replicas)]
    out = []
    for step in range(steps):
        parts = [per_pipeline[i][step * local + j] for i in range(pipelines)
                 for j in range(local)]
        out.append(tuple(np.concatenate([p[v] for p in parts]) for v in range(2)))
    return out


@pytest.mark.parametrize("objective", ["pclr", "simclr"])
def test_replica_and_pipeline_splits_see_the_single_replica_global_batch(ecgs, objective):
    def make(context):  # simclr: default augmentations, seeded per ECG
        return pretraining_dataset(ecgs, 6, objective=objective, seed=2, input_context=context)

    single = global_batches(make, 1, 1, 4)
    for pipelines, replicas in [(2, 2), (1, 2), (1, 3), (3, 3)]:
        split = global_batches(make, pipelines, replicas, 4)
        for a, b in zip(single, split, strict=True):
            np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(a[1], b[1], rtol=1e-6, atol=1e-6)
    per_replica = take(make(fake_contexts(1, 2)[0]), 1)[0][0]
    assert per_replica.shape == (3, L, C)


def test_pipeline_runs_under_a_distribution_strategy(ecgs):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    dataset = strategy.distribute_datasets_from_function(
        lambda context: pretraining_dataset(ecgs, 4, input_context=context))
    view1, view2 = next(iter(dataset))
    assert view1.shape == (4, L, C) and view2.shape == (4, L, C)


def test_simclr_views_are_two_augmentations_of_one_ecg_of_distinct_patients(ecgs):
    assert steps_per_epoch(ecgs, 8, "simclr") == len(ecgs) // 8
    plain = take(pretraining_dataset(ecgs, 8, objective="simclr", seed=4, augment=False), 6)
    seen = []
    for view1, view2 in plain:
        np.testing.assert_array_equal(view1, view2)
        rows = ids(view1)
        patients = [p or f"none{r}" for p, r in zip(patient_of(ecgs, rows), rows)]
        assert len(set(patients)) == 8  # no-id ECGs count as their own patient
        seen += list(rows)
    assert len(seen) == len(set(seen)) == 48  # one epoch: every ECG at most once
    scaled = take(pretraining_dataset(ecgs, 8, objective="simclr", seed=4, augment=AugmentConfig(
        crop_min_fraction=1, noise_std=0, wander_max_amplitude=0, lead_dropout=0)), 1)[0]
    for view in scaled:  # each view: the batch's ECGs, each scaled by its own factor
        ratio = view / plain[0][0]
        np.testing.assert_allclose(ratio, ratio[:, :1, :1] + 0 * ratio, rtol=1e-5)
    assert not np.allclose(scaled[0], scaled[1])
    augmented = take(pretraining_dataset(ecgs, 8, objective="simclr", seed=4), 1)[0]
    assert not np.allclose(augmented[0], augmented[1])
    assert not np.allclose(augmented[0], plain[0][0])
    assert np.isfinite(augmented[0]).all()


def test_clocs_views_are_the_two_halves_of_one_recording(ecgs):
    view1, view2 = take(pretraining_dataset(ecgs, 8, objective="clocs", seed=4), 1)[0]
    half = L // 2
    np.testing.assert_array_equal(view1[:, half:], 0)
    np.testing.assert_array_equal(view2[:, :half], 0)
    np.testing.assert_array_equal(ids(view1), ids(view2))
    np.testing.assert_array_equal(view1[:, :half], view2[:, half:])  # constant signals
    assert (ids(view1) >= 0).all()


def test_batch_too_large_or_unknown_objective_is_a_clear_error(ecgs):
    with pytest.raises(ValueError, match="16 patients with >= 2 ECGs.*largest global batch "
                                         "that works is 16"):
        steps_per_epoch(ecgs, 32)
    with pytest.raises(ValueError, match="16 patients with >= 2 ECGs"):
        pretraining_dataset(ecgs, 17)
    with pytest.raises(ValueError, match="50 ECGs.*largest global batch that works is 50"):
        steps_per_epoch(ecgs, 64, "simclr")
    with pytest.raises(ValueError, match="Unknown objective"):
        pretraining_dataset(ecgs, 4, objective="moco")


def test_ptbxl_pairs_are_repeat_ecgs_of_one_patient(tmp_path):
    data = require_shared("data")
    manifest = pd.read_csv(data / "ptbxl" / "manifest.csv")
    manifest = manifest[manifest.n_ecgs_patient_in_subset >= 2].iloc[:40]
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    inputs, excluded = read_manifest(tmp_path / "manifest.csv", path_column="path_lr",
                                     path_root=data, drop_if="in_v1_0_3 == False")
    tensorize(inputs, tmp_path / "out", TensorizeSettings(variants=("lead_II",)),
              planned_errors=excluded, workers=1, progress=False)
    ecgs = TensorizedECGs(tmp_path / "out", variant="lead_II", label_filter="strat_fold <= 8")
    assert (ecgs.labels.strat_fold <= 8).all() and len(ecgs.pair_patients) >= 4
    signals = ecgs.read(ecgs.labels[["shard", "row"]].to_numpy())
    for view1, view2 in take(pretraining_dataset(ecgs, 4, seed=0), 3):
        for a, b in zip(view1, view2):
            first = np.flatnonzero((signals == a).all(axis=(1, 2)))[0]
            second = np.flatnonzero((signals == b).all(axis=(1, 2)))[0]
            assert first != second
            rows = ecgs.labels.iloc[[first, second]]
            assert rows.patient_id.nunique() == 1 and rows.ecg_id.nunique() == 2
    counts = Counter(ecgs.labels.patient_id)
    assert all(counts[p] >= 2 for p in ecgs.pair_patients)


def test_extra_negatives_are_distinct_one_ecg_patients_resumable_and_split(ecgs):
    singles = set(np.flatnonzero(ecgs.labels.patient_id.isin(["p016", "p017", "p018"])))

    def make(context=None, start_step=0):
        return pretraining_dataset(ecgs, 4, seed=3, extra_negatives=2, input_context=context,
                                   start_step=start_step)

    batches = take(make(), 12)
    plain = take(pretraining_dataset(ecgs, 4, seed=3), 12)
    for (view1, view2, negatives), (plain1, plain2) in zip(batches, plain, strict=True):
        assert negatives.shape == (2, L, C)
        assert set(ids(negatives)) <= singles and len(set(ids(negatives))) == 2
        np.testing.assert_array_equal(view1, plain1)  # the pairs are untouched
        np.testing.assert_array_equal(view2, plain2)
    assert len({tuple(sorted(ids(b[2]))) for b in batches}) > 1, "same negatives every step"
    for a, b in zip(batches[5:], take(make(start_step=5), 7), strict=True):
        np.testing.assert_array_equal(a[2], b[2])
    replica0, replica1 = take(make(fake_contexts(1, 2)[0]), 2)  # step 0, both replicas
    np.testing.assert_array_equal(np.concatenate([replica0[2], replica1[2]]), batches[0][2])


def test_extra_negatives_need_pclr_and_enough_one_ecg_patients(ecgs):
    with pytest.raises(ValueError, match="are for the pclr objective, not .simclr."):
        pretraining_dataset(ecgs, 4, objective="simclr", extra_negatives=2)
    with pytest.raises(ValueError, match="has 3 ECGs of patients with a single ECG, fewer "
                                         "than 4 extra negatives"):
        pretraining_dataset(ecgs, 4, extra_negatives=4)
    with pytest.raises(ValueError, match="single-ECG pairs are for the pclr objective"):
        pretraining_dataset(ecgs, 4, objective="clocs", single_ecg_pairs=2)
    with pytest.raises(ValueError, match="fewer than 4 single-ECG pairs per step"):
        pretraining_dataset(ecgs, 4, single_ecg_pairs=4)
    with pytest.raises(ValueError, match="either as extra negatives or as single-ECG pairs"):
        pretraining_dataset(ecgs, 4, extra_negatives=1, single_ecg_pairs=1)


def unchanged(x, seeds):
    """An `augment` callable that leaves every ECG as it is."""
    return x


def test_single_ecg_pairs_follow_the_patient_pairs_resumable_and_split(ecgs):
    singles = set(np.flatnonzero(ecgs.labels.patient_id.isin(["p016", "p017", "p018"])))

    def make(context=None, start_step=0):
        return pretraining_dataset(ecgs, 4, seed=3, single_ecg_pairs=2, augment=unchanged,
                                   input_context=context, start_step=start_step)

    batches = take(make(), 12)
    plain = take(pretraining_dataset(ecgs, 4, seed=3), 12)
    for (view1, view2), (plain1, plain2) in zip(batches, plain, strict=True):
        assert view1.shape == view2.shape == (6, L, C)
        np.testing.assert_array_equal(view1[:4], plain1)  # the patient pairs, untouched
        np.testing.assert_array_equal(view2[:4], plain2)
        np.testing.assert_array_equal(view1[4:], view2[4:])  # one ECG on both sides
        assert set(ids(view1[4:])) <= singles and len(set(ids(view1[4:]))) == 2
    assert len({tuple(sorted(ids(b[0][4:]))) for b in batches}) > 1, "same ECGs every step"
    for a, b in zip(batches[5:], take(make(start_step=5), 7), strict=True):
        np.testing.assert_array_equal(a[0], b[0])
    replica0, replica1 = take(make(fake_contexts(1, 2)[0]), 2)  # step 0, both replicas
    assert replica0[0].shape == (3, L, C)  # 2 pairs and 1 single-ECG pair each
    np.testing.assert_array_equal(
        np.concatenate([replica0[0][:2], replica1[0][:2], replica0[0][2:], replica1[0][2:]]),
        batches[0][0])


def test_single_ecg_pairs_are_two_different_augmentations_however_replicas_split(ecgs):
    (view1, view2), = take(pretraining_dataset(ecgs, 4, seed=3, single_ecg_pairs=2), 1)
    (plain1, plain2), = take(pretraining_dataset(ecgs, 4, seed=3), 1)
    np.testing.assert_array_equal(view1[:4], plain1)  # pairs stay unaugmented, as PCLR
    np.testing.assert_array_equal(view2[:4], plain2)
    assert not np.allclose(view1[4:], view2[4:])
    singles = np.flatnonzero(ecgs.labels.patient_id.isin(["p016", "p017", "p018"]))
    raw = ecgs.read_ecgs(singles)  # constant signals: any augmentation shows
    assert not any(np.allclose(v, r) for v in np.concatenate([view1[4:], view2[4:]]) for r in raw)
    replicas = [take(pretraining_dataset(ecgs, 4, seed=3, single_ecg_pairs=2,
                                         input_context=context), 1)[0]
                for context in fake_contexts(2, 2)]
    for view, whole in ((0, view1), (1, view2)):
        np.testing.assert_allclose(
            np.concatenate([replicas[0][view][2:], replicas[1][view][2:]]), whole[4:],
            rtol=1e-6, atol=1e-6)


def test_lead_masked_views_keep_one_device_lead_set_each_drawn_per_view(tmp_path):
    ecgs = TensorizedECGs(write_tensors(tmp_path, [2] * 40 + [1] * 8, leads=12))
    sets = {"I": (True,) + (False,) * 11, "limb": (True,) * 6 + (False,) * 6}

    def views(lead_mask, **kwargs):
        return take(pretraining_dataset(ecgs, 16, seed=2, lead_mask=lead_mask,
                                        lead_sets=("I", "limb"), **kwargs), 3)

    for (view1, view2), (plain1, plain2) in zip(views(1.0), views(0.0), strict=True):
        for view, plain in ((view1, plain1), (view2, plain2)):
            kept = (view != 0).all(axis=1)
            assert {tuple(k) for k in kept} == set(sets.values())  # both sets drawn, nothing else
            np.testing.assert_array_equal(view, plain * kept[:, None, :])
        assert ((view1 != 0).all(axis=1) != (view2 != 0).all(axis=1)).any()  # views draw apart
    (half1, _), = views(0.5)[:1]
    masked = ~(half1 != 0).all(axis=(1, 2))
    assert 0 < masked.sum() < len(masked)
    (single1, single2), = views(1.0, single_ecg_pairs=4)[:1]  # single-ECG pairs masked too
    assert not (single1[16:] != 0).all()
    with pytest.raises(ValueError, match="keeps none of the input leads"):
        pretraining_dataset(TensorizedECGs(write_tensors(tmp_path / "lead_I", [2] * 4, leads=1,
                                                         variant="lead_I"), variant="lead_I"),
                            2, lead_mask=0.5, lead_sets=("II",))
