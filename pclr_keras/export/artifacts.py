"""Encoder artifacts for any Keras or TF Serving user, written so a killed export leaves none half-made.

`export_encoder` writes what downstream code needs without this package:
`NAME.h5` and `NAME.keras` (plain `keras.models.load_model`, no custom
objects) and a versioned TF Serving SavedModel `NAME/VERSION/` whose
`serving_default` signature maps a preprocessed `ecg` to `embed` and whose
`embed_raw` signature maps a raw `ecg` in mV and its rate `fs` to `embed`
(see `pclr_keras.export.serving`), with a TF Serving warm-up file; with
`precision="bfloat16"` also `NAME_bf16/VERSION/`, the same signatures
computing in bfloat16 (float32 in and out), with its own warm-up file;
`NAME.onnx` (`pclr_keras.export.onnx`) and with `precision="int8"`
`NAME_int8.tflite` (its guard beside it) and `NAME_int8.onnx`, each written
only when it passes its accuracy guard.
`save_preset` writes a preset folder in KerasHub's layout (`config.json`,
`metadata.json`, `model.weights.h5`, a `README.md` model card), the form
presets ship in and the Hugging Face Hub holds. Every file is written into a
temporary folder beside its target and moved into place, so a killed export
never leaves a half-written artifact under the final name. Reading any of
them back is `pclr_keras.weights.load.load_encoder`'s job.
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

import keras
import tensorflow as tf

from pclr_keras import __version__
from pclr_keras.export.graph_preprocess import preprocess_raw
from pclr_keras.export.onnx import export_onnx
from pclr_keras.export.quantize import guard_file, guarded_int8
from pclr_keras.export.serving import RAW_SIGNATURE, SERVING_SIGNATURE, write_warmup_file
from pclr_keras.precision import INT8, resolve_precision, short_name, with_precision
from pclr_keras.variants import VARIANTS, variant_for_input_shape
from pclr_keras.weights.downloads import file_digest
from pclr_keras.weights.load import encoder_only
from pclr_keras.weights.presets import PRESET_CARD, PRESET_CONFIG, PRESET_METADATA, PRESET_WEIGHTS

FORMATS = ("h5", "keras", "savedmodel", "tflite", "onnx")
DEFAULT_FORMATS = ("h5", "keras", "savedmodel")


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


def export_saved_model(encoder, export_dir, model_name="PCLR", leads_present=None):
    """Writes a TF Serving SavedModel with both signatures and a warm-up file.

    `serving_default(ecg) -> {"embed"}` takes preprocessed input;
    `embed_raw(ecg, fs) -> {"embed"}` takes raw mV signals in the variant's
    lead order (only the leads of `leads_present`, if given: the others are
    zero-filled in the graph) and preprocesses them in the graph, rejecting
    what `preprocess_ecg` rejects with an `InvalidArgument` error.
    `assets.extra/tf_serving_warmup_requests` holds one request per
    signature.

    Args:
        encoder: a Keras encoder ending at `embed`.
        export_dir: str or Path. The versioned folder, e.g. `models/PCLR/1`.
        model_name: str. The model name in the warm-up requests.
        leads_present: None, or the leads `embed_raw` takes (a set name or
            comma list, e.g. "I" for a watch).

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
        lambda ecg, fs: {"embed": encoder(
            preprocess_raw(ecg, fs, variant, leads_present=leads_present), training=False)},
        input_signature=[tf.TensorSpec([None, None, None], tf.float32, name="ecg"),
                         tf.TensorSpec([None], tf.float32, name="fs")],
    )
    archive.write_out(str(export_dir), verbose=False)
    return write_warmup_file(export_dir, variant, model_name, leads_present)


def export_tflite(saved_model_dir, tflite_path):
    """Converts an exported SavedModel to TFLite (for the single-lead variants)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model_dir), signature_keys=[SERVING_SIGNATURE])
    Path(tflite_path).write_bytes(converter.convert())


def export_encoder(encoder, out_dir, name="PCLR", formats=DEFAULT_FORMATS, version=1,
                   precision="float32", calibration=None, guard_ecgs=64, leads_present=None):
    """Writes an encoder in the requested formats.

    Args:
        encoder: a Keras encoder, or a model with an `embed` layer (a head
            such as the projection head is dropped).
        out_dir: str or Path. Folder for the artifacts (created if needed).
        name: str. Base name: `NAME.h5`, `NAME.keras`, `NAME/VERSION/`,
            `NAME.tflite`.
        formats: iterable of `"h5"`, `"keras"`, `"savedmodel"`, `"tflite"`, `"onnx"`
            (`NAME.onnx`, the `serving_default` signature: `pclr_keras.export.onnx`).
        version: int. TF Serving version folder.
        precision: `float32` (default), `bfloat16`, `float16` or `auto`.
            Other than float32, the SavedModel is also written computing in
            that precision as `NAME_bf16/VERSION/` (`_fp16`), beside the
            float32 one, which stays the reference. `.h5` and `.keras` hold
            the same float32 weights either way (`load_encoder(...,
            precision=)` picks the precision at load time).
        leads_present: None, or the leads the SavedModels' `embed_raw` takes
            (the others zero-filled in the graph); `serving_default` and the
            other formats take the encoder's full input either way.

    Returns:
        dict format -> Path of what was written (`savedmodel_bf16`, ... for
        the extra SavedModel).
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"Unknown export formats {sorted(unknown)}; choose from {FORMATS}.")
    encoder = with_precision(encoder_only(encoder), "float32")
    precision = precision if precision == INT8 else resolve_precision(precision)
    if precision == INT8 and calibration is None:
        raise ValueError("precision int8 needs real ECGs to calibrate on (--calibration DATA).")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = _artifact_paths(out_dir, name, formats, version, precision)
    written = {}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{name}.") as tmp:
        staged = _write_staged(encoder, Path(tmp), targets, name, precision,
                               (calibration, guard_ecgs), leads_present)
        for fmt, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(staged[fmt], target)
            written[fmt] = target
    return written


def _artifact_paths(out_dir, name, formats, version, precision):
    """Where each format of `formats` goes, in their order: {format: Path}.

    Other than float32, `savedmodel_bf16` (`_fp16`) comes last: the extra
    SavedModel computing in `precision`, `NAME_bf16/VERSION/`.

    Raises:
        ValueError: a reduced precision without `savedmodel` among the formats.
    """
    paths = {"h5": out_dir / f"{name}.h5", "keras": out_dir / f"{name}.keras",
             "savedmodel": out_dir / name / str(version), "tflite": out_dir / f"{name}.tflite",
             "onnx": out_dir / f"{name}.onnx"}
    targets = {fmt: paths[fmt] for fmt in formats}
    if precision == INT8:
        if not {"onnx", "tflite"} & set(formats):
            raise ValueError("precision int8 is written as NAME_int8.tflite or "
                             "NAME_int8.onnx; add tflite or onnx to the formats.")
        for fmt in ("tflite", "onnx"):
            if fmt in formats:
                targets[f"{fmt}_int8"] = out_dir / f"{name}_int8.{fmt}"
        if "tflite" in formats:
            targets["tflite_int8_guard"] = guard_file(targets["tflite_int8"])
    elif precision != "float32":
        if "savedmodel" not in formats:
            raise ValueError(f"precision {precision} is written as an extra SavedModel; "
                             "add savedmodel to the formats.")
        suffix = short_name(precision)
        targets[f"savedmodel_{suffix}"] = out_dir / f"{name}_{suffix}" / str(version)
    return targets


def _write_staged(encoder, folder, targets, name, precision, int8_data, leads_present=None):
    """Writes the artifacts `targets` asks for into `folder`; returns {format: staged path}.

    TFLite is converted from the float32 SavedModel, so that is written
    whenever either is asked for. `int8_data`: (calibration ECGs, guard count).
    """
    staged = {fmt: folder / target.name for fmt, target in targets.items()
              if fmt != "savedmodel"}
    staged["savedmodel"] = folder / "savedmodel"
    if "h5" in targets:
        with _quiet_absl():
            encoder.save(staged["h5"])
    if "keras" in targets:
        encoder.save(staged["keras"])
    if "savedmodel" in targets or "tflite" in targets:
        export_saved_model(encoder, staged["savedmodel"], model_name=name,
                           leads_present=leads_present)
    if "tflite" in targets:
        export_tflite(staged["savedmodel"], staged["tflite"])
    if "onnx" in targets:
        export_onnx(encoder, staged["onnx"], {"variant": serving_variant(encoder).name})
    if precision == INT8:
        _write_int8(encoder, staged, int8_data)
    elif precision != "float32":
        reduced = f"savedmodel_{short_name(precision)}"
        staged[reduced] = folder / reduced
        export_saved_model(with_precision(encoder, precision), staged[reduced],
                           model_name=targets[reduced].parent.name, leads_present=leads_present)
    return staged


def _write_int8(encoder, staged, int8_data):
    """Writes the int8 files `staged` names (`tflite_int8` with its guard file beside it,
    `onnx_int8`), each only if it passes its accuracy guard (else ValueError)."""
    for fmt, runtime in (("tflite", "tflite"), ("onnx", "onnxruntime")):
        if f"{fmt}_int8" not in staged:
            continue
        content, guard = guarded_int8(encoder, *int8_data, runtime=runtime)
        if not guard["passed"]:
            raise ValueError(f"int8 accuracy guard failed ({runtime}): lowest cosine to "
                             f"float32 {guard['min_cosine']} < {guard['threshold']} on "
                             f"{guard['ecgs']} ECGs; nothing written.")
        staged[f"{fmt}_int8"].write_bytes(content)
        if fmt == "tflite":
            staged["tflite_int8_guard"].write_text(json.dumps(guard, indent=2) + "\n")


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
