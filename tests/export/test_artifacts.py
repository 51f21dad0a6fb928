"""Exported encoders load in plain Keras / TensorFlow, in a fresh process; preset folders load back."""

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import SMALL_ENCODER
from pclr_keras.cli import main as pclr_main
from pclr_keras.export.artifacts import export_encoder, save_preset
from pclr_keras.models import build_encoder, build_pretraining_model
from pclr_keras.weights.load import load_encoder

# Runs with no pclr_keras on the path: what a downstream user or TF Serving host has.
FRESH_PROCESS_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    out, artifacts = sys.argv[1], json.loads(sys.argv[2])
    x = np.load(f"{out}/x.npy")
    results = {}
    for name, path in artifacts.items():
        if path.endswith(".h5"):
            model = tf.keras.models.load_model(path)
            results[name] = model.predict(x, verbose=0).tolist()
        elif path.endswith(".keras"):
            model = tf.keras.models.load_model(path, safe_mode=True)
            results[name] = model.predict(x, verbose=0).tolist()
        else:
            serving = tf.saved_model.load(path).signatures["serving_default"]
            results[name] = serving(ecg=tf.constant(x))["embed"].numpy().tolist()
    assert not [m for m in sys.modules if m.startswith("pclr_keras")]
    print(json.dumps(results))
""")


def _load_in_fresh_process(out_dir, artifacts, x):
    np.save(out_dir / "x.npy", x)
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_CHECK, str(out_dir),
         json.dumps({k: str(v) for k, v in artifacts.items()})],
        capture_output=True, text=True, timeout=300, cwd=out_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return {k: np.array(v, dtype=np.float32) for k, v in json.loads(result.stdout.splitlines()[-1]).items()}


@pytest.fixture(scope="module")
def small_export(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    encoder = build_encoder("lead_I", **SMALL_ENCODER)
    model = build_pretraining_model(encoder, projection_dims=(16, 16))
    written = export_encoder(model, out, name="SMALL", formats=("h5", "keras", "savedmodel", "tflite"))
    x = np.random.default_rng(0).normal(size=(4, 256, 1)).astype("float32")
    return out, written, encoder, x


def test_export_writes_every_format_and_no_temporary_files(small_export):
    out, written, _, _ = small_export
    assert written == {"h5": out / "SMALL.h5", "keras": out / "SMALL.keras",
                       "savedmodel": out / "SMALL" / "1", "tflite": out / "SMALL.tflite"}
    assert (out / "SMALL" / "1" / "saved_model.pb").exists()
    assert sorted(p.name for p in out.iterdir()) == ["SMALL", "SMALL.h5", "SMALL.keras", "SMALL.tflite"]


def test_artifacts_load_without_pclr_keras_and_drop_the_head(small_export):
    out, written, encoder, x = small_export
    expected = encoder.predict(x, verbose=0)
    outputs = _load_in_fresh_process(out, {k: written[k] for k in ("h5", "keras", "savedmodel")}, x)
    for fmt, values in outputs.items():
        assert values.shape == (4, 16), fmt
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6, err_msg=fmt)


def test_serving_signature_seen_by_saved_model_cli(small_export):
    out, written, _, _ = small_export
    cli = shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli is not on PATH")

    def shown(signature):
        result = subprocess.run(
            [cli, "show", "--dir", str(written["savedmodel"]), "--tag_set", "serve",
             "--signature_def", signature], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return " ".join(result.stdout.split())

    text = shown("serving_default")
    assert "inputs['ecg'] tensor_info: dtype: DT_FLOAT shape: (-1, 256, 1)" in text
    assert "outputs['embed'] tensor_info: dtype: DT_FLOAT shape: (-1, 16)" in text
    assert "tensorflow/serving/predict" in text
    text = shown("embed_raw")
    assert "inputs['ecg'] tensor_info: dtype: DT_FLOAT shape: (-1, -1, -1)" in text
    assert "inputs['fs'] tensor_info: dtype: DT_FLOAT shape: (-1)" in text
    assert "outputs['embed'] tensor_info: dtype: DT_FLOAT shape: (-1, 16)" in text


def test_tflite_single_lead_export_matches(small_export):
    import tensorflow as tf

    _, written, encoder, x = small_export
    runner = tf.lite.Interpreter(str(written["tflite"])).get_signature_runner("serving_default")
    np.testing.assert_allclose(runner(ecg=x[:1])["embed"], encoder.predict(x[:1], verbose=0),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fmt", ["h5", "keras"])
def test_load_encoder_round_trip(small_export, fmt):
    _, written, encoder, x = small_export
    loaded = load_encoder(written[fmt])
    assert loaded.layers[-1].name == "embed"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), encoder.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_load_encoder_points_serving_export_elsewhere(small_export):
    _, written, _, _ = small_export
    with pytest.raises(ValueError, match="TF Serving export"):
        load_encoder(written["savedmodel"])


def test_reexport_replaces_artifacts(tmp_path):
    first = build_encoder("pclr", **SMALL_ENCODER)
    second = build_encoder("pclr", **SMALL_ENCODER)
    export_encoder(first, tmp_path, name="M")
    export_encoder(second, tmp_path, name="M")
    x = np.random.default_rng(1).normal(size=(2, 256, 12)).astype("float32")
    for path in (tmp_path / "M.h5", tmp_path / "M.keras"):
        np.testing.assert_allclose(load_encoder(path).predict(x, verbose=0),
                                   second.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M", "M.h5", "M.keras"]


def test_unknown_format_is_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="Unknown export formats"):
        export_encoder(build_encoder("pclr", **SMALL_ENCODER), tmp_path, formats=("coreml",))
    assert list(tmp_path.iterdir()) == []


def test_full_size_pclr_h5_loads_with_plain_keras(tmp_path):
    """The contract: tf.keras.models.load_model('PCLR.h5') in a fresh process."""
    assert pclr_main(["export", "--untrained", "--variant", "pclr", "--out", str(tmp_path),
                      "--formats", "h5"]) == 0
    encoder = load_encoder(tmp_path / "PCLR.h5")
    x = np.random.default_rng(2).normal(scale=0.3, size=(2, 4096, 12)).astype("float32")
    outputs = _load_in_fresh_process(tmp_path, {"h5": tmp_path / "PCLR.h5"}, x)
    assert outputs["h5"].shape == (2, 320)
    np.testing.assert_allclose(outputs["h5"], encoder.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant, leads, says", [
    ("pclr", "X9", "Unknown lead(s) ['X9']"),
    ("lead_I", "V2", "The lead_I encoder reads ['I'], none of the leads present ['V2']")])
def test_cli_export_leads_naming_no_lead_the_encoder_reads_is_a_usage_error(
        tmp_path, capsys, variant, leads, says):
    with pytest.raises(SystemExit) as stopped:
        pclr_main(["export", "--untrained", "--variant", variant, "--out", str(tmp_path),
                   "--leads", leads])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pclr export: error: --leads {leads!r}: {says}") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_export_needs_weights_or_untrained(tmp_path):
    with pytest.raises(SystemExit, match="--untrained"):
        pclr_main(["export", "--out", str(tmp_path)])


def test_save_preset_writes_kerashub_layout_and_loads_back_identical(tmp_path):
    small_encoder = build_encoder("pclr", **SMALL_ENCODER)
    folder = save_preset(small_encoder, tmp_path / "mine", metadata={"preset_version": "7"},
                         model_card="# my card\n")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "config.json", "metadata.json", "model.weights.h5"]
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["parameter_count"] == small_encoder.count_params()
    assert metadata["weights_sha256"] == hashlib.sha256(
        (folder / "model.weights.h5").read_bytes()).hexdigest()
    assert metadata["preset_version"] == "7"
    batch = np.random.default_rng(0).normal(size=(3, 256, 12)).astype("float32")
    np.testing.assert_array_equal(load_encoder(folder).predict(batch, verbose=0),
                                  small_encoder.predict(batch, verbose=0))
    save_preset(small_encoder, folder)  # replacing an existing folder
    assert not (folder / "README.md").exists()
