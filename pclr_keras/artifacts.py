"""Encoder artifacts: write them for any Keras or TF Serving user, read them back.

`export_encoder` writes what downstream code needs without this package:
`NAME.h5` and `NAME.keras` (plain `keras.models.load_model`, no custom
objects) and a versioned TF Serving SavedModel `NAME/VERSION/` whose
`serving_default` signature maps a preprocessed `ecg` to `embed` and whose
`embed_raw` signature maps a raw `ecg` in mV and its rate `fs` to `embed`
(see `pclr_keras.serving`), with a TF Serving warm-up file; with
`precision="bfloat16"` also `NAME_bf16/VERSION/`, the same signatures
computing in bfloat16 (float32 in and out), with its own warm-up file.
`save_preset` writes a preset folder in KerasHub's layout (`config.json`,
`metadata.json`, `model.weights.h5`, a `README.md` model card), the form
presets ship in and the Hugging Face Hub holds. Every file is written into a
temporary folder beside its target and moved into place, so a killed export
never leaves a half-written artifact under the final name. `load_encoder`
reads all of these, ml4h's files, and presets by name (`pclr_keras.presets`).
"""

import contextlib
import dataclasses
import datetime
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import h5py
import keras
import tensorflow as tf

from pclr_keras import __version__
from pclr_keras.downloads import file_digest
from pclr_keras.graph_preprocess import preprocess_raw
from pclr_keras.precision import resolve_precision, short_name, with_precision
from pclr_keras.presets import resolve_model
from pclr_keras.serving import RAW_SIGNATURE, SERVING_SIGNATURE, write_warmup_file
from pclr_keras.upstream import load_upstream
from pclr_keras.variants import VARIANTS, variant_for_input_shape

FORMATS = ("h5", "keras", "savedmodel", "tflite")
DEFAULT_FORMATS = ("h5", "keras", "savedmodel")
# A preset folder, as KerasHub lays one out.
PRESET_CONFIG, PRESET_METADATA, PRESET_WEIGHTS, PRESET_CARD = (
    "config.json", "metadata.json", "model.weights.h5", "README.md")


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


def _replace(source, target):
    """Moves a finished file or folder onto `target`, replacing what was there."""
    target = Path(target)
    if target.is_dir():
        stale = target.with_name(f".{target.name}.stale")
        os.replace(target, stale)
        os.replace(source, target)
        shutil.rmtree(stale)
    else:
        os.replace(source, target)


@contextlib.contextmanager
def _quiet_absl():
    """Hides Keras' 'HDF5 is legacy' notice: we write .h5 on purpose, for ml4h users."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def serving_variant(encoder):
    """The variant whose leads and length `encoder` reads.

    A released variant where the input shape is one; otherwise (e.g. a
    narrow test encoder) the released variant with as many leads, with the
    encoder's input length.

    Raises:
        ValueError: no variant reads that many leads, so no lead order is known.
    """
    length, leads = encoder.input.shape[1:]
    try:
        return variant_for_input_shape(length, leads)
    except ValueError:
        pass
    for variant in VARIANTS.values():
        if variant.num_leads == leads:
            return dataclasses.replace(variant, name=f"{variant.name}_{length}",
                                       input_length=length)
    raise ValueError(f"No PCLR variant reads {leads} leads, so the raw-signal signature "
                     "has no lead order.")


def export_saved_model(encoder, export_dir, model_name="PCLR"):
    """Writes a TF Serving SavedModel with both signatures and a warm-up file.

    `serving_default(ecg) -> {"embed"}` takes preprocessed input;
    `embed_raw(ecg, fs) -> {"embed"}` takes raw mV signals in the variant's
    lead order and preprocesses them in the graph, rejecting what
    `preprocess_ecg` rejects with an `InvalidArgument` error.
    `assets.extra/tf_serving_warmup_requests` holds one request per
    signature.

    Args:
        encoder: a Keras encoder ending at `embed`.
        export_dir: str or Path. The versioned folder, e.g. `models/PCLR/1`.
        model_name: str. The model name in the warm-up requests.

    Returns:
        The warm-up file's Path.
    """
    variant = serving_variant(encoder)
    archive = keras.export.ExportArchive()
    archive.track(encoder)
    archive.add_endpoint(
        SERVING_SIGNATURE,
        lambda ecg: {"embed": encoder(ecg, training=False)},
        input_signature=[tf.TensorSpec(
            [None, variant.input_length, variant.num_leads], tf.float32, name="ecg")],
    )
    archive.add_endpoint(
        RAW_SIGNATURE,
        lambda ecg, fs: {"embed": encoder(preprocess_raw(ecg, fs, variant), training=False)},
        input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="ecg"),
                         tf.TensorSpec([None], tf.float32, name="fs")],
    )
    archive.write_out(str(export_dir), verbose=False)
    return write_warmup_file(export_dir, variant, model_name)


def export_tflite(saved_model_dir, tflite_path):
    """Converts an exported SavedModel to TFLite (for the single-lead variants)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=[SERVING_SIGNATURE])
    Path(tflite_path).write_bytes(converter.convert())


def export_encoder(encoder, out_dir, name="PCLR", formats=DEFAULT_FORMATS, version=1,
                   precision="float32"):
    """Writes an encoder in the requested formats.

    Args:
        encoder: a Keras encoder, or a model with an `embed` layer (a head
            such as the projection head is dropped).
        out_dir: str or Path. Folder for the artifacts (created if needed).
        name: str. Base name: `NAME.h5`, `NAME.keras`, `NAME/VERSION/`,
            `NAME.tflite`.
        formats: iterable of `"h5"`, `"keras"`, `"savedmodel"`, `"tflite"`.
        version: int. TF Serving version folder.
        precision: `float32` (default), `bfloat16`, `float16` or `auto`.
            Other than float32, the SavedModel is also written computing in
            that precision as `NAME_bf16/VERSION/` (`_fp16`), beside the
            float32 one, which stays the reference. `.h5` and `.keras` hold
            the same float32 weights either way (`load_encoder(...,
            precision=)` picks the precision at load time).

    Returns:
        dict format -> Path of what was written (`savedmodel_bf16`, ... for
        the extra SavedModel).
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"Unknown export formats {sorted(unknown)}; choose from {FORMATS}.")
    encoder = with_precision(encoder_only(encoder), "float32")
    precision = resolve_precision(precision)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {
        "h5": out_dir / f"{name}.h5",
        "keras": out_dir / f"{name}.keras",
        "savedmodel": out_dir / name / str(version),
        "tflite": out_dir / f"{name}.tflite",
    }
    reduced = None  # the extra SavedModel, computing in `precision`
    if precision != "float32":
        if "savedmodel" not in formats:
            raise ValueError(f"precision {precision} is written as an extra SavedModel; "
                             "add savedmodel to the formats.")
        reduced = f"savedmodel_{short_name(precision)}"
        targets[reduced] = out_dir / f"{name}_{short_name(precision)}" / str(version)
        formats = (*formats, reduced)
    written = {}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{name}.") as tmp:
        tmp = Path(tmp)
        staged = {"savedmodel": tmp / "savedmodel"}
        if "h5" in formats:
            with _quiet_absl():
                encoder.save(tmp / targets["h5"].name)
        if "keras" in formats:
            encoder.save(tmp / targets["keras"].name)
        if "savedmodel" in formats or "tflite" in formats:
            export_saved_model(encoder, staged["savedmodel"], model_name=name)
        if "tflite" in formats:
            export_tflite(staged["savedmodel"], tmp / targets["tflite"].name)
        if reduced:
            staged[reduced] = tmp / reduced
            export_saved_model(with_precision(encoder, precision), staged[reduced],
                               model_name=targets[reduced].parent.name)
        for fmt in formats:
            targets[fmt].parent.mkdir(parents=True, exist_ok=True)
            _replace(staged.get(fmt, tmp / targets[fmt].name), targets[fmt])
            written[fmt] = targets[fmt]
    return written


def save_preset(encoder, folder, metadata=None, model_card=None):
    """Writes `encoder` as a preset folder that `load_encoder(folder)` reads back.

    KerasHub's layout: `config.json` (the model's Keras config),
    `model.weights.h5`, `metadata.json` (versions, shapes, parameter count,
    date, the weights' SHA-256, checked on load) and, if given, `README.md`.
    Publish one with `huggingface_hub.upload_folder(folder_path=folder,
    repo_id="org/name")`; it then loads as `load_encoder("hf://org/name")`.

    Args:
        encoder: a Keras encoder, or a model with an `embed` layer (the head
            is dropped).
        folder: str or Path. The preset folder (replaced if it exists).
        metadata: dict. More entries for `metadata.json` (e.g. the preset's
            name, version, training data, licences).
        model_card: str. Markdown written as `README.md`.

    Returns:
        The folder's Path.
    """
    encoder = encoder_only(encoder)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as tmp:
        staged = Path(tmp) / folder.name
        staged.mkdir()
        config = keras.saving.serialize_keras_object(encoder)
        (staged / PRESET_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        encoder.save_weights(staged / PRESET_WEIGHTS)
        facts = {
            "keras_version": keras.__version__,
            "pclr_keras_version": __version__,
            "parameter_count": encoder.count_params(),
            "date_saved": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
            "input_shape": list(encoder.input.shape),
            "output_shape": list(encoder.output.shape),
            "weights_sha256": file_digest(staged / PRESET_WEIGHTS, "sha256"),
            **(metadata or {}),
        }
        (staged / PRESET_METADATA).write_text(json.dumps(facts, indent=2) + "\n")
        if model_card is not None:
            (staged / PRESET_CARD).write_text(model_card)
        if folder.exists():
            _replace(staged, folder)
        else:
            os.replace(staged, folder)
    return folder


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
    with h5py.File(path, "r") as f:
        version = f.attrs.get("keras_version", "")
    version = version.decode() if isinstance(version, bytes) else str(version)
    return version.startswith("3.")


def load_encoder(path, sha256=None, precision="float32"):
    """Loads any PCLR encoder artifact, or a preset by name, as a Keras 3 model ending at `embed`.

    Accepts a preset name (`pclr-ptbxl`, `pclr-ml4h`, ...; `pclr presets`
    lists them), `https://...` and `hf://org/name[@revision]` addresses
    (see `pclr_keras.presets.resolve_model`), preset folders
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
    path = resolve_model(path, sha256=sha256)
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
