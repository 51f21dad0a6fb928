"""The one way in: any encoder file, folder or name -> a Keras 3 encoder ending at `embed`.

`load_encoder` reads preset folders (KerasHub's layout, `save_preset`), our
`.keras` and `.h5` files (with or without a head) and ml4h's released Keras 2
`.h5` files and SavedModel folders (`pclr_keras.weights.upstream`); names,
`https://` and `hf://` addresses become local files first
(`pclr_keras.weights.resolve`). The local embed job, Beam, training and the
command line all load through here.
"""

import json
from pathlib import Path

import h5py
import keras

from pclr_keras.precision import with_precision
from pclr_keras.weights.downloads import file_digest
from pclr_keras.weights.presets import PRESET_CONFIG, PRESET_METADATA, PRESET_WEIGHTS
from pclr_keras.weights.resolve import resolve_path
from pclr_keras.weights.upstream import load_upstream


def load_encoder(path, sha256=None, precision="float32"):
    """Loads any PCLR encoder artifact, or a preset by name, as a Keras 3 model ending at `embed`.

    Accepts a preset name (`pclr-ptbxl`, `pclr-ml4h`, ...; `pclr presets`
    lists them), `https://...` and `hf://org/name[@revision]` addresses
    (see `pclr_keras.weights.resolve.resolve_path`), preset folders
    (`save_preset`), our `.keras` and `.h5` files (with or without a head)
    and ml4h's released Keras 2 `.h5` files and SavedModel folders (see
    `load_upstream`). Our TF Serving export is for `tf.saved_model.load` and
    TF Serving; Keras reads the `.keras` or `.h5` written beside it.

    Args:
        path: str or Path. Any of the above.
        sha256: str. The expected SHA-256 of an `https://` download.
        precision: `float32` (default: ml4h's numbers bit for bit),
            `bfloat16`, `float16` or `auto` (see `pclr_keras.precision`).
            Inputs, outputs and weights stay float32.

    Examples:
        >>> encoder = load_encoder("pclr-ptbxl")    # shipped with the package
        >>> encoder.output.shape
        (None, 320)
    """
    return with_precision(_load_float32(path, sha256), precision)


def _load_float32(path, sha256):
    """The encoder `path` names, as stored (float32): resolved, then read by its kind."""
    path = resolve_path(path, sha256=sha256)
    if is_preset_folder(path):
        return _load_preset_folder(path)
    if path.suffix == ".keras":
        return encoder_only(keras.saving.load_model(path, compile=False, safe_mode=True))
    if path.is_dir() and (path / "fingerprint.pb").exists() \
            and not (path / "keras_metadata.pb").exists():
        raise ValueError(
            f"{path} is a TF Serving export: load it with tf.saved_model.load, "
            "or give Keras the .keras / .h5 file exported beside it.")
    if path.suffix == ".h5" and h5py.is_hdf5(path) and _is_keras3_h5(path):
        return encoder_only(keras.saving.load_model(path, compile=False))
    return load_upstream(path)


def encoder_only(model):
    """Returns `model` cut at its `embed` layer (drops heads, keeps weights)."""
    if len(model.outputs) == 1 and model.layers[-1].name == "embed":
        return model
    try:
        embed = model.get_layer("embed")
    except ValueError:
        raise ValueError(
            f"Model {model.name!r} has no 'embed' layer, so it is not a PCLR "
            "encoder or a model built on one.") from None
    return keras.Model(model.input, embed.output, name=model.name)


def is_preset_folder(path):
    """Whether `path` is a folder `save_preset` wrote (or KerasHub's layout)."""
    path = Path(path)
    return (path / PRESET_CONFIG).is_file() and (path / PRESET_WEIGHTS).is_file()


def _load_preset_folder(folder):
    """Builds the model from `config.json` (safe mode) and loads its weights, checked."""
    metadata_file = folder / PRESET_METADATA
    metadata = json.loads(metadata_file.read_text()) if metadata_file.is_file() else {}
    expected = metadata.get("weights_sha256")
    if expected:
        got = file_digest(folder / PRESET_WEIGHTS, "sha256")
        if got != expected:
            raise ValueError(
                f"{folder / PRESET_WEIGHTS}: SHA-256 {got}, but {PRESET_METADATA} says "
                f"{expected}; the weights file is damaged or was replaced.")
    config = json.loads((folder / PRESET_CONFIG).read_text())
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    model.load_weights(folder / PRESET_WEIGHTS)
    return encoder_only(model)


def _is_keras3_h5(path):
    """Whether Keras 3 wrote this `.h5` (ml4h's Keras 2 files go to `load_upstream`)."""
    with h5py.File(path, "r") as f:
        version = f.attrs.get("keras_version", "")
    version = version.decode() if isinstance(version, bytes) else str(version)
    return version.startswith("3.")
