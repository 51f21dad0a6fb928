"""ECG augmentations for the SimCLR baseline: pure TensorFlow, batched, stateless.

`augment_batch(x, seed)` applies, in this order, to every ECG of a batch
`x` (batch, samples, leads) in mV:

1. random crop: keep a contiguous `U(crop_min_fraction, 1)` of the record
   and stretch it back to the full length by linear interpolation;
2. amplitude scale: multiply the whole ECG by a log-uniform factor in
   `scale_range`;
3. baseline wander: add one sinusoid per ECG (frequency uniform in
   `wander_frequency_range` Hz, random phase), with an amplitude drawn per
   lead uniformly in `[-wander_max_amplitude, wander_max_amplitude]` mV;
4. gaussian noise of standard deviation `noise_std` mV;
5. lead dropout: zero each lead with probability `lead_dropout`, never all
   leads (if every lead is drawn, the one drawn last survives).

All randomness comes from stateless RNG ops keyed by a seed per ECG, so an
ECG's augmentation depends only on its own seed: the same seeds give the same
output, whatever the batch it sits in (replica splits see the same views as
one replica). Each step can be switched off through `AugmentConfig`
(`crop_min_fraction=1`, `scale_range=(1, 1)`, `wander_max_amplitude=0`,
`noise_std=0`, `lead_dropout=0`).

`mask_leads(x, seeds, probability, masks)` is the lead masking of lead-masked
pre-training: it keeps one whole lead set that real devices record (lead I,
the limb leads, ...) and zeroes the rest, as reduced-lead input is
zero-filled, so two views of one patient with different leads learn to meet.
"""

import dataclasses
import math

import tensorflow as tf

from pclr_keras.variants import ECG_DURATION_S, LEAD_SETS, STANDARD_LEADS, parse_lead_set


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Strengths of the ECG augmentations; the defaults are the standard ones.

    Args:
        crop_min_fraction: float. Smallest fraction of the record a random
            crop keeps (the kept fraction is uniform in `[this, 1]`); 1
            disables cropping. Defaults to 0.5.
        scale_range: (float, float). Range of the per-ECG amplitude factor,
            drawn log-uniformly (as likely to halve as to double). Defaults
            to (0.5, 2.0).
        noise_std: float. Standard deviation of the added gaussian noise, in
            mV. Defaults to 0.05.
        wander_max_amplitude: float. Largest baseline wander amplitude, in
            mV, per lead. Defaults to 0.2.
        wander_frequency_range: (float, float). Range of the wander
            frequency, in Hz (respiration and motion: below 0.5 Hz).
            Defaults to (0.05, 0.5).
        lead_dropout: float. Probability that a lead is zeroed. Defaults to
            0.1.
        duration_s: float. Seconds an input spans (to turn Hz into cycles
            per record). Defaults to the 10 s every encoder variant reads.
    """

    crop_min_fraction: float = 0.5
    scale_range: tuple = (0.5, 2.0)
    noise_std: float = 0.05
    wander_max_amplitude: float = 0.2
    wander_frequency_range: tuple = (0.05, 0.5)
    lead_dropout: float = 0.1
    duration_s: float = ECG_DURATION_S

    def __post_init__(self):
        if not 0 < self.crop_min_fraction <= 1:
            raise ValueError(f"crop_min_fraction must be in (0, 1], not {self.crop_min_fraction}.")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must be 0 < low <= high, not {self.scale_range}.")
        low, high = self.wander_frequency_range
        if not 0 <= low <= high:
            raise ValueError("wander_frequency_range must be 0 <= low <= high, "
                             f"not {self.wander_frequency_range}.")
        if self.noise_std < 0 or self.wander_max_amplitude < 0:
            raise ValueError("noise_std and wander_max_amplitude must be >= 0.")
        if not 0 <= self.lead_dropout < 1:
            raise ValueError(f"lead_dropout must be in [0, 1), not {self.lead_dropout}.")
        if self.duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, not {self.duration_s}.")


# Columns of the per-ECG uniform draws (then one per lead for the wander
# amplitude and one per lead for dropout).
_CROP_LENGTH, _CROP_START, _SCALE, _FREQUENCY, _PHASE, _N_SCALARS = range(6)


def example_seeds(seed, batch_size):
    """A shape-[2] seed -> one seed per ECG, shape (batch_size, 2) int64."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    return tf.random.stateless_uniform([batch_size, 2], seed, minval=None, maxval=None,
                                       dtype=tf.int64)


def _draws(seeds, num_leads, shape, with_noise):
    """Per-ECG uniforms (b, 6 + 2 leads) and standard normals (b, L, C)."""

    def one(seed):
        uniform_seed, normal_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        uniforms = tf.random.stateless_uniform([_N_SCALARS + 2 * num_leads], uniform_seed)
        normals = (tf.random.stateless_normal(shape, normal_seed) if with_noise
                   else tf.zeros([0, 0]))
        return uniforms, normals

    return tf.map_fn(one, seeds, fn_output_signature=(tf.float32, tf.float32))


def _crop(x, length_u, start_u, min_fraction):
    """Contiguous crop of U(min_fraction, 1) of each ECG, stretched back to L."""
    length = tf.shape(x)[1]
    last = tf.cast(length - 1, tf.float32)
    span = (min_fraction + (1.0 - min_fraction) * length_u) * last  # in samples
    start = start_u * (last - span)
    t = tf.range(length, dtype=tf.float32) / last
    position = start[:, None] + t[None, :] * span[:, None]  # (b, L), within [0, L-1]
    below = tf.minimum(tf.cast(tf.floor(position), tf.int32), length - 2)
    weight = (position - tf.cast(below, tf.float32))[:, :, None]
    left = tf.gather(x, below, axis=1, batch_dims=1)
    right = tf.gather(x, below + 1, axis=1, batch_dims=1)
    return left * (1.0 - weight) + right * weight


def _wander(x, frequency_u, phase_u, amplitude_u, config):
    low, high = config.wander_frequency_range
    frequency = low + (high - low) * frequency_u  # Hz
    phase = 2.0 * math.pi * phase_u
    seconds = tf.range(tf.shape(x)[1], dtype=tf.float32) * (
        config.duration_s / tf.cast(tf.shape(x)[1], tf.float32))
    wave = tf.sin(2.0 * math.pi * frequency[:, None] * seconds[None, :] + phase[:, None])
    amplitude = config.wander_max_amplitude * (2.0 * amplitude_u - 1.0)  # (b, C)
    return x + wave[:, :, None] * amplitude[:, None, :]


def _lead_dropout(x, dropout_u, p):
    keep = dropout_u >= p
    # never all leads: where every lead was drawn, the one with the largest draw stays
    survivor = tf.one_hot(tf.argmax(dropout_u, axis=1), tf.shape(x)[2], on_value=True,
                          off_value=False, dtype=tf.bool)
    keep = keep | (survivor & ~tf.reduce_any(keep, axis=1, keepdims=True))
    return x * tf.cast(keep, x.dtype)[:, None, :]


def augment_batch(x, seed, config=AugmentConfig()):
    """Random crop, scale, baseline wander, noise and lead dropout of a batch.

    Args:
        x: float32 tensor (batch, samples, leads), in mV.
        seed: int tensor of shape [2] (one seed for the batch), or of shape
            (batch, 2): one seed per ECG, which makes each ECG's augmentation
            independent of the batch it is in.
        config: `AugmentConfig`. Strengths. Defaults to the standard ones.

    Returns:
        float32 tensor of the shape of `x`. The same `x` and seed give the
        same output.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    batch, num_leads = tf.shape(x)[0], x.shape[2]
    if num_leads is None:
        raise ValueError("augment_batch needs a static number of leads (x.shape[2]).")
    seeds = example_seeds(seed, batch) if seed.shape.rank == 1 else seed
    with_noise = config.noise_std > 0
    uniforms, normals = _draws(seeds, num_leads, tf.shape(x)[1:], with_noise)

    out = x
    if config.crop_min_fraction < 1:
        out = _crop(out, uniforms[:, _CROP_LENGTH], uniforms[:, _CROP_START],
                    config.crop_min_fraction)
    low, high = config.scale_range
    if low != high or low != 1:
        log_scale = math.log(low) + (math.log(high) - math.log(low)) * uniforms[:, _SCALE]
        out = out * tf.exp(log_scale)[:, None, None]
    if config.wander_max_amplitude > 0:
        out = _wander(out, uniforms[:, _FREQUENCY], uniforms[:, _PHASE],
                      uniforms[:, _N_SCALARS:_N_SCALARS + num_leads], config)
    if with_noise:
        out = out + config.noise_std * normals
    if config.lead_dropout > 0:
        out = _lead_dropout(out, uniforms[:, _N_SCALARS + num_leads:], config.lead_dropout)
    return tf.ensure_shape(out, x.shape)


# The sets lead masking draws from by default: every named device set but all 12.
MASKED_LEAD_SETS = tuple(name for name in LEAD_SETS if name != "12")
# A stream of its own, so masking draws never repeat an augmentation's draws.
_MASK_STREAM = 0x1EAD


def lead_set_masks(lead_sets=MASKED_LEAD_SETS, leads=STANDARD_LEADS):
    """(n_sets, len(leads)) float32 0/1 rows: which input channels each set keeps.

    Args:
        lead_sets: sequence of lead-set specs (`variants.parse_lead_set`).
        leads: the encoder's input channels, in order.
    """
    rows = []
    for spec in lead_sets:
        kept = parse_lead_set(spec)
        if not set(kept) & set(leads):
            raise ValueError(f"Lead set {spec!r} keeps none of the input leads {list(leads)}.")
        rows.append([float(lead in kept) for lead in leads])
    if not rows:
        raise ValueError("lead masking needs at least one lead set.")
    return tf.constant(rows, tf.float32)


def mask_leads(x, seeds, probability, masks):
    """Keeps, with `probability` per ECG, one lead set (drawn uniformly) and zeroes the rest.

    Args:
        x: float32 tensor (batch, samples, leads).
        seeds: int64 (batch, 2), one seed per ECG (as `augment_batch` takes).
        probability: float in [0, 1]. Chance that an ECG is masked at all.
        masks: (n_sets, leads) 0/1 rows from `lead_set_masks`.

    Returns:
        x with the masked ECGs' other leads zero; an ECG's draw depends only
        on its own seed.
    """
    if not 0 <= probability <= 1:
        raise ValueError(f"lead mask probability must be in [0, 1], not {probability}.")

    def draws(seed):
        return tf.random.stateless_uniform(
            [2], tf.random.experimental.stateless_fold_in(seed, _MASK_STREAM))

    u = tf.map_fn(draws, tf.cast(seeds, tf.int64), fn_output_signature=tf.float32)
    n_sets = tf.shape(masks)[0]
    chosen = tf.minimum(tf.cast(u[:, 1] * tf.cast(n_sets, tf.float32), tf.int32), n_sets - 1)
    keep = tf.gather(masks, chosen)  # (batch, leads)
    masked = (u[:, 0] < probability)[:, None]
    keep = tf.where(masked, keep, tf.ones_like(keep))
    return x * tf.cast(keep, x.dtype)[:, None, :]
