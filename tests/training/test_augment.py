"""ECG augmentations: shapes kept, stateless seeding, and each augmentation's property."""

import numpy as np
import pytest
import tensorflow as tf

from pclr_keras.training.augment import AugmentConfig, augment_batch

L, C = 512, 4
# Every augmentation off; tests switch on one at a time.
OFF = dict(crop_min_fraction=1.0, scale_range=(1.0, 1.0), noise_std=0.0,
           wander_max_amplitude=0.0, lead_dropout=0.0)


def only(**strength):
    return AugmentConfig(**{**OFF, **strength})


def ecgs(batch=8, seed=0):
    t = np.linspace(0, 10, L, dtype=np.float32)
    rng = np.random.default_rng(seed)
    gains = rng.uniform(0.5, 1.5, size=(batch, 1, C)).astype(np.float32)
    return np.sin(2 * np.pi * 1.2 * t)[None, :, None] * gains + 0.1


def run(x, seed, config=AugmentConfig()):
    return augment_batch(tf.constant(x), tf.constant(seed, tf.int64), config).numpy()


def test_shape_dtype_kept_and_output_changes_and_stays_finite():
    x = ecgs()
    out = augment_batch(tf.constant(x), tf.constant([1, 2]))
    assert out.shape == x.shape and out.dtype == tf.float32
    assert np.isfinite(out.numpy()).all()
    assert not np.allclose(out.numpy(), x)


def test_all_off_is_identity():
    x = ecgs()
    np.testing.assert_allclose(run(x, [3, 4], AugmentConfig(**OFF)), x)


def test_same_seed_same_output_other_seed_other_output():
    x = ecgs()
    np.testing.assert_array_equal(run(x, [5, 6]), run(x, [5, 6]))
    assert not np.allclose(run(x, [5, 6]), run(x, [5, 7]))
    out = run(x, [5, 6])
    assert not np.allclose(out[0] / x[0], out[1] / x[1])  # ECGs of a batch differ


def test_per_ecg_seeds_make_an_ecg_independent_of_its_batch():
    x = ecgs(batch=6)
    seeds = np.stack([np.full(6, 9), np.arange(6)], axis=1)
    whole = run(x, seeds)
    parts = np.concatenate([run(x[:2], seeds[:2]), run(x[2:], seeds[2:])])
    np.testing.assert_allclose(whole, parts, rtol=1e-6, atol=1e-6)


def test_works_in_a_graph_with_an_unknown_batch_size():
    fn = tf.function(lambda x, seed: augment_batch(x, seed),
                     input_signature=[tf.TensorSpec((None, L, C)), tf.TensorSpec((2,), tf.int64)])
    x = ecgs(batch=3)
    np.testing.assert_array_equal(fn(x, tf.constant([1, 1], tf.int64)).numpy(), run(x, [1, 1]))


def test_scale_only_multiplies_by_one_factor_per_ecg_within_range():
    x = ecgs(batch=64)
    ratio = run(x, [0, 1], only(scale_range=(0.5, 2.0))) / x
    per_ecg = ratio[:, :1, :1]
    np.testing.assert_allclose(ratio, np.broadcast_to(per_ecg, ratio.shape), rtol=1e-5)
    assert per_ecg.min() >= 0.5 and per_ecg.max() <= 2.0
    assert per_ecg.min() < 0.8 and per_ecg.max() > 1.25  # log-uniform: both ways


def test_lead_dropout_zeroes_whole_leads_never_all():
    x = ecgs(batch=200)
    out = run(x, [0, 2], only(lead_dropout=0.1))
    zeroed = np.all(out == 0, axis=1)  # (batch, leads)
    kept = np.all(out == x, axis=1)
    assert (zeroed | kept).all()
    assert 0.06 < zeroed.mean() < 0.14
    heavy = run(x, [0, 3], only(lead_dropout=0.95))
    assert np.any(heavy != 0, axis=(1, 2)).all()  # never every lead
    single = run(x[:, :, :1], [0, 3], only(lead_dropout=0.9))
    np.testing.assert_array_equal(single, x[:, :, :1])


def test_noise_has_the_configured_std():
    x = ecgs(batch=16)
    noise = run(x, [0, 4], only(noise_std=0.05)) - x
    assert abs(noise.std() - 0.05) < 0.002 and abs(noise.mean()) < 0.002
    assert AugmentConfig().noise_std == 0.05


def test_crop_of_a_linear_ramp_stays_linear_and_keeps_half_or_more():
    ramp = np.broadcast_to(np.arange(L, dtype=np.float32)[None, :, None], (32, L, C)).copy()
    out = run(ramp, [0, 5], only(crop_min_fraction=0.5))
    np.testing.assert_allclose(np.diff(out, n=2, axis=1), 0, atol=2e-3)
    slope = (out[:, -1, 0] - out[:, 0, 0]) / (L - 1)  # kept fraction of the record
    assert slope.min() >= 0.5 - 1e-4 and slope.max() <= 1 + 1e-4
    assert slope.max() - slope.min() > 0.2
    assert out.min() >= 0 and out.max() <= L - 1 + 1e-3  # a window of the original
    np.testing.assert_allclose(out, out[:, :, :1].repeat(C, axis=2))  # same crop on all leads


def test_baseline_wander_is_one_slow_sinusoid_per_ecg_bounded_per_lead():
    x = ecgs(batch=16)
    wander = run(x, [0, 6], only(wander_max_amplitude=0.2)) - x
    assert np.abs(wander).max() <= 0.2 + 1e-5 and np.abs(wander).max() > 0.05
    for ecg in wander:  # all leads share one wave: rank 1
        singular = np.linalg.svd(ecg, compute_uv=False)
        assert singular[1] < 1e-3 * singular[0]
        lead = ecg[:, np.argmax(np.abs(ecg).max(axis=0))]
        crossings = np.sum(np.diff(np.sign(lead)) != 0)
        assert crossings <= 2 * 0.5 * 10 + 1  # below 0.5 Hz over 10 s


@pytest.mark.parametrize("bad", [dict(crop_min_fraction=0), dict(scale_range=(2, 1)),
                                 dict(noise_std=-1), dict(lead_dropout=1.0),
                                 dict(wander_frequency_range=(1, 0.5))])
def test_config_rejects_bad_strengths(bad):
    with pytest.raises(ValueError):
        AugmentConfig(**bad)


# ----------------------------------------------------------------------- lead masking

from pclr_keras.training.augment import MASKED_LEAD_SETS, lead_set_masks, mask_leads  # noqa: E402
from pclr_keras.variants import LEAD_SETS, STANDARD_LEADS, parse_lead_set  # noqa: E402


def twelve_lead(batch):
    rng = np.random.default_rng(1)
    return rng.normal(1.0, 0.1, size=(batch, 64, 12)).astype(np.float32)


def per_ecg_seeds(batch, base=3):
    return tf.constant(np.stack([np.full(batch, base), np.arange(batch)], axis=1), tf.int64)


def test_lead_sets_parse_names_and_lists_in_standard_order():
    assert parse_lead_set("limb") == STANDARD_LEADS[:6]
    assert parse_lead_set("II, avl ,I") == ("I", "II", "aVL")
    assert parse_lead_set(["V2"]) == ("V2",)
    with pytest.raises(ValueError, match="Unknown lead.*'X7'"):
        parse_lead_set("I,X7")
    with pytest.raises(ValueError, match="Empty lead set"):
        parse_lead_set(" , ")
    assert "12" not in MASKED_LEAD_SETS and set(MASKED_LEAD_SETS) == set(LEAD_SETS) - {"12"}


def test_masking_keeps_exactly_one_whole_device_lead_set_per_masked_ecg():
    x = twelve_lead(400)
    masks = lead_set_masks()
    out = mask_leads(tf.constant(x), per_ecg_seeds(400), 1.0, masks).numpy()
    kept = (out != 0).all(axis=1)  # (batch, 12) leads left untouched
    sets = {tuple(row) for row in masks.numpy().astype(bool)}
    assert all(tuple(row) in sets for row in kept)  # every ECG keeps one whole set
    np.testing.assert_array_equal(out, x * kept[:, None, :])  # the kept leads are unchanged
    counts = {s: sum(tuple(r) == s for r in kept) for s in sets}
    assert min(counts.values()) > 400 / len(sets) / 2  # every set is drawn, about evenly


def test_mask_probability_is_the_share_of_masked_ecgs_and_zero_is_identity():
    x = twelve_lead(1000)
    masks = lead_set_masks()
    np.testing.assert_array_equal(mask_leads(tf.constant(x), per_ecg_seeds(1000), 0.0, masks), x)
    out = mask_leads(tf.constant(x), per_ecg_seeds(1000), 0.3, masks).numpy()
    masked = ((out == 0).all(axis=1)).any(axis=1)
    assert 0.25 < masked.mean() < 0.35


def test_mask_draw_depends_on_the_ecg_seed_alone():
    x = twelve_lead(8)
    masks = lead_set_masks(["I", "II", "limb"])
    seeds = per_ecg_seeds(8, base=5)
    whole = mask_leads(tf.constant(x), seeds, 0.7, masks).numpy()
    halves = np.concatenate([mask_leads(tf.constant(x[:3]), seeds[:3], 0.7, masks).numpy(),
                             mask_leads(tf.constant(x[3:]), seeds[3:], 0.7, masks).numpy()])
    np.testing.assert_array_equal(whole, halves)
    other = mask_leads(tf.constant(x), per_ecg_seeds(8, base=6), 0.7, masks).numpy()
    assert not np.array_equal(whole, other)


def test_lead_set_without_the_input_leads_or_bad_probability_is_refused():
    with pytest.raises(ValueError, match="keeps none of the input leads"):
        lead_set_masks(["II"], leads=("I",))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        mask_leads(tf.zeros([1, 4, 12]), per_ecg_seeds(1), 1.5, lead_set_masks())
