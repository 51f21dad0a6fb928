"""Writes stand-ins for ml4h's released PCLR files, built in Keras 2 (tf_keras).

Run as `TF_USE_LEGACY_KERAS=1 python tests/upstream_fixtures.py OUTDIR`. The
models are built independently of `pclr_keras` (own builder, tf_keras's own
auto-names) so that the test of `pclr_keras.upstream` compares against real
Keras 2 files and outputs, not against our own code. Writes to OUTDIR:

- `pclr.h5`: 12-lead 4096 encoder + projection head, compiled with a custom
  loss, saved as a Keras 2 full-model HDF5 file (like ml4h's `PCLR.h5`).
- `pclr_weights.h5`: the same model, weights only.
- `PCLR/`: the same encoder weights, encoder only, as a SavedModel.
- `lead_II.h5`, `PCLR_lead_II/`: the 2500x1 encoder whose stem has no BN.
- `c3po.h5`: 2500x12 encoder + head, built after other models so that its
  layer names carry shifted suffixes (`conv1d_13`, ...).
- `reference.npz`: fixed inputs `x_<model>` and tf_keras's inference-mode
  `embed` outputs `embed_<model>`.
- `layers.json`: per model, each layer's name, class, inbound layers and
  weights (name, shape), to compare with upstream's architecture JSON.
"""

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf_keras as keras

UNITS = ((128, 1024), (196, 256), (256, 64), (320, 16))  # (filters, target length)
L = keras.layers


def conv(filters, kernel_size, strides=1):
    return L.Conv1D(filters, kernel_size, strides=strides, padding="same",
                    use_bias=False, kernel_initializer="he_normal")


def ribeiro_encoder(length, leads, stem_bn):
    """The Ribeiro ResNet as ml4h builds it, layers auto-named by tf_keras."""
    ecg = keras.Input((length, leads), name="ecg")
    x = conv(64, 16)(ecg)
    if stem_bn:
        x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    skip = x
    for filters, target in UNITS:
        down = skip.shape[1] // target
        if down > 1:
            skip = L.MaxPooling1D(down, strides=down, padding="same")(skip)
        skip = conv(filters, 1)(skip)  # created before the main path's convs
        x = L.Activation("relu")(L.BatchNormalization()(conv(filters, 16)(x)))
        x = conv(filters, 16, strides=down)(x)
        x = skip = L.Add()([x, skip])
        x = L.Activation("relu")(L.BatchNormalization()(x))
    embed = L.GlobalAveragePooling1D(name="embed")(x)
    return keras.Model(ecg, embed)


def with_projection_head(encoder):
    x = L.Dense(320, activation="relu", name="projection_0")(encoder.output)
    x = L.Dense(320, name="projection")(x)
    return keras.Model(encoder.input, x)


def simclr_loss(y_true, y_pred):
    """A custom python loss, so the h5 file names an object Keras doesn't know."""
    del y_true
    z = tf.math.l2_normalize(y_pred, axis=-1)
    return -tf.reduce_mean(tf.matmul(z, z, transpose_b=True))


def randomize(model, x, rng):
    """Random BN parameters, with moving statistics near the real ones.

    BN layers are visited in model order; each one's moving mean/variance are
    the batch statistics of its input on `x`, perturbed, so inference-mode BN
    matters and activations stay of order one through the whole network.
    """
    for layer in model.layers:
        if isinstance(layer, L.Dense):
            layer.set_weights([w + rng.normal(0, 0.05, w.shape) for w in layer.get_weights()])
        if not isinstance(layer, L.BatchNormalization):
            continue
        inputs = keras.Model(model.input, layer.input)(x, training=False).numpy()
        mean = inputs.mean(axis=(0, 1))
        var = inputs.var(axis=(0, 1)) + 1e-3
        n = mean.shape[0]
        layer.set_weights([
            rng.uniform(0.5, 1.5, n),                      # gamma
            rng.normal(0.0, 0.2, n),                       # beta
            mean + rng.normal(0.0, 0.1, n) * np.sqrt(var),  # moving mean
            var * rng.uniform(0.7, 1.4, n),                # moving variance
        ])


def describe(model):
    """Name, class, inbound layers and weights of each layer, in model order."""
    config = model.get_config()["layers"]
    rows = []
    for layer, cfg in zip(model.layers, config):
        assert layer.name == cfg["name"]
        inbound = [[h[0] for h in node] for node in cfg["inbound_nodes"]]
        rows.append({
            "name": layer.name,
            "class": type(layer).__name__,
            "inbound": inbound,
            "weights": [[w.name.split(":")[0], list(w.shape)] for w in layer.weights],
        })
    return rows


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    arrays, layers = {}, {}

    def make(name, length, leads, stem_bn, head):
        x = rng.normal(0.0, 0.5, (2, length, leads)).astype("float32")
        encoder = ribeiro_encoder(length, leads, stem_bn)
        model = with_projection_head(encoder) if head else encoder
        model.compile(optimizer="adam", loss=simclr_loss)
        randomize(model, x, rng)
        arrays[f"x_{name}"] = x
        arrays[f"embed_{name}"] = encoder(x, training=False).numpy()
        layers[name] = describe(model)
        return encoder, model

    keras.backend.clear_session()
    encoder, model = make("pclr", 4096, 12, True, head=True)
    model.save(os.path.join(outdir, "pclr.h5"))
    model.save_weights(os.path.join(outdir, "pclr_weights.h5"))
    encoder.save(os.path.join(outdir, "PCLR"))  # a folder path: SavedModel

    keras.backend.clear_session()  # fresh names, as in ml4h's release
    encoder, _ = make("lead_II", 2500, 1, False, head=False)
    encoder.save(os.path.join(outdir, "lead_II.h5"))
    encoder.save(os.path.join(outdir, "PCLR_lead_II"))

    # No clear_session: names continue from lead_II (conv1d_13, ...).
    _, model = make("c3po", 2500, 12, True, head=True)
    model.save(os.path.join(outdir, "c3po.h5"))

    np.savez(os.path.join(outdir, "reference.npz"), **arrays)
    with open(os.path.join(outdir, "layers.json"), "w") as f:
        json.dump(layers, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
