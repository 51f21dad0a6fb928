"""ONNX export: the file runs in plain ONNX Runtime, with no TensorFlow, and gives the
Keras encoder's numbers on real ECGs; a missing extra is one line naming it."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import require_shared
from pclr_keras.cli import main as pclr_main

RELEASED = Path(__file__).resolve().parents[2] / "model_zoo" / "PCLR" / "PCLR.h5"

# Runs with no pclr_keras on the path and without TensorFlow: a hospital's ONNX host.
ONNX_ONLY_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np, onnxruntime as ort
    session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    x = np.load(sys.argv[2])
    (signal,), (embed,) = session.get_inputs(), session.get_outputs()
    np.save(sys.argv[3], session.run(None, {"ecg": x})[0])
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
    assert not [m for m in sys.modules if m.startswith("pclr_keras")]
    print(json.dumps({"inputs": [signal.name, signal.shape, signal.type],
                      "outputs": [embed.name, embed.shape, embed.type]}))
""")


@pytest.mark.slow
def test_exported_onnx_matches_keras_on_real_ecgs_without_tensorflow(tmp_path):
    from pclr_keras.embedding import embed_files
    from pclr_keras.io import find_ecg_files
    from pclr_keras.preprocess import preprocess_ecg
    from pclr_keras.io import iter_records
    from pclr_keras.weights.load import load_encoder

    files = find_ecg_files([require_shared("data/ptbxl/records100")])[:16]
    x = np.stack([preprocess_ecg(r.signal, r.fs, r.lead_names, "pclr")
                  for path in files for r in iter_records(path)]).astype(np.float32)
    assert pclr_main(["export", "--model", str(RELEASED), "--out", str(tmp_path),
                      "--formats", "onnx"]) in (None, 0)
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run(
        [sys.executable, "-c", ONNX_ONLY_CHECK, str(tmp_path / "PCLR.onnx"),
         str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    contract = json.loads(result.stdout)
    assert contract == {"inputs": ["ecg", ["batch", 4096, 12], "tensor(float)"],
                        "outputs": ["embed", ["batch", 320], "tensor(float)"]}
    keras_embeddings = load_encoder(RELEASED).predict(x, verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), keras_embeddings, atol=1e-4)
    # pclr embed runs the same file: the numbers of the Keras model, float32.
    onnx_rows = embed_files(load_onnx(tmp_path / "PCLR.onnx"), files, "pclr", progress=False)
    np.testing.assert_allclose(onnx_rows.embeddings, keras_embeddings, atol=1e-4)


def load_onnx(path):
    from pclr_keras.embedding.model import resolve_model

    encoder, label = resolve_model(str(path))
    assert label == Path(path).name and encoder.precision == "float32"
    return encoder


def test_missing_onnx_extra_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    from pclr_keras.export.onnx import ONNX_MISSING

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails, as uninstalled
    with pytest.raises(SystemExit) as stop:
        pclr_main(["export", "--untrained", "--out", str(tmp_path), "--formats", "onnx"])
    assert str(stop.value) == f"pclr export: {ONNX_MISSING}"
    assert "pip install 'pclr-keras[onnx]'" in ONNX_MISSING
