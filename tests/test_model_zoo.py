"""ml4h's model_zoo/PCLR API runs unchanged on top of pclr_keras."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pclr_keras.export.artifacts import export_encoder
from pclr_keras.weights.load import load_encoder
from pclr_keras.models import build_encoder
from pclr_keras.preprocess import preprocess_ecg
from pclr_keras.variants import STANDARD_LEADS

MODEL_ZOO = Path(__file__).resolve().parents[1] / "model_zoo" / "PCLR"


def run_upstream_snippet(code, cwd):
    """Runs `code` as an ml4h user would: from a folder, importing the zoo modules."""
    path = os.pathsep.join([str(MODEL_ZOO), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=path),
                          capture_output=True, text=True, timeout=300)


def test_build_model_functions_compile_and_train(tmp_path):
    result = run_upstream_snippet("""
        import numpy as np
        from build_model import PCLR_model, CLOCS_model, CAE_model, ribeiro_r_model
        pclr_model = PCLR_model()
        clocs_model = CLOCS_model()
        CAE = CAE_model()
        ribeiro_r = ribeiro_r_model()
        x = np.random.default_rng(0).normal(scale=0.3, size=(4, 4096, 12)).astype("float32")
        loss, accuracy = pclr_model.train_on_batch(x, np.zeros((4, 320)))
        print(pclr_model.name, pclr_model.count_params(), clocs_model.output_shape,
              CAE.output_shape, len(ribeiro_r.outputs), np.isfinite(loss), 0 <= accuracy <= 1,
              round(float(pclr_model.optimizer.learning_rate), 6),
              round(float(clocs_model.optimizer.learning_rate), 6))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-2] == (
        "ribeiro_relu_320_320 6600352 (None, 320) (None, 4096, 12) 6 True True 0.1 0.01")


def test_get_representations_says_where_weights_go(tmp_path):
    result = run_upstream_snippet("""
        from get_representations import get_representations
        get_representations([], model_name="c3po_pclr")
    """, tmp_path)
    assert result.returncode != 0
    assert "No weights file c3po_pclr.h5" in result.stderr
    assert "git lfs pull --include model_zoo/PCLR/c3po_pclr.h5" in result.stderr


def _ecg_dict(rng, samples=2500):
    t = np.arange(samples) / (samples / 10)
    return {lead: 0.8 * np.sin(2 * np.pi * 1.2 * t + i) + rng.normal(scale=0.05, size=samples)
            for i, lead in enumerate(STANDARD_LEADS)}


def test_upstream_readme_snippet_with_our_export(tmp_path):
    encoder = build_encoder("pclr")
    export_encoder(encoder, tmp_path, name="PCLR", formats=("h5",))
    ecgs = [_ecg_dict(np.random.default_rng(seed)) for seed in range(3)]
    np.save(tmp_path / "ecgs.npy", np.array([[e[lead] for lead in STANDARD_LEADS] for e in ecgs]))
    result = run_upstream_snippet("""
        import warnings
        import numpy as np
        from get_representations import get_representations, test_get_representations
        from preprocess_ecg import LEADS
        test_get_representations()
        raw = np.load("ecgs.npy")
        ecgs = [dict(zip(LEADS, leads)) for leads in raw]
        np.save("representations.npy", get_representations(ecgs))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            zeros = get_representations([{lead: np.zeros(2500) for lead in LEADS}] * 10)
        print(zeros.shape, any("flat" in str(w.message) for w in caught))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[-2] == "(10, 320) True"
    expected = encoder.predict(
        np.stack([preprocess_ecg(e, fs=250, variant="pclr") for e in ecgs]), verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "representations.npy"), expected,
                               rtol=1e-4, atol=1e-5)


def test_get_representations_reads_ml4h_keras2_file(upstream_files, tmp_path):
    """ml4h's own PCLR.h5 (Keras 2, projection head, custom loss) drops in."""
    (tmp_path / "PCLR.h5").symlink_to(upstream_files / "pclr.h5")
    ecgs = [_ecg_dict(np.random.default_rng(seed), samples=5000) for seed in range(2)]
    np.save(tmp_path / "ecgs.npy", np.array([[e[lead] for lead in STANDARD_LEADS] for e in ecgs]))
    result = run_upstream_snippet("""
        import numpy as np
        from get_representations import get_representations
        from preprocess_ecg import LEADS
        ecgs = [dict(zip(LEADS, leads)) for leads in np.load("ecgs.npy")]
        np.save("representations.npy", get_representations(ecgs))
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    encoder = load_encoder(upstream_files / "pclr.h5")
    expected = encoder.predict(
        np.stack([preprocess_ecg(e, fs=500, variant="pclr") for e in ecgs]), verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "representations.npy"), expected,
                               rtol=1e-4, atol=1e-5)


def test_process_ecg_keeps_ml4h_contract():
    sys.path.insert(0, str(MODEL_ZOO))
    try:
        from preprocess_ecg import LEADS, process_ecg
    finally:
        sys.path.remove(str(MODEL_ZOO))
    ecg = _ecg_dict(np.random.default_rng(0), samples=5000)
    processed = process_ecg(ecg)
    assert processed.shape == (4096, 12)
    for i, lead in enumerate(LEADS):  # ml4h's own per-lead loop, as the reference
        np.testing.assert_allclose(
            processed[:, i], np.interp(np.linspace(0, 1, 4096), np.linspace(0, 1, 5000), ecg[lead]),
            rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="exactly the leads"):
        process_ecg({lead: ecg[lead] for lead in LEADS[:11]})


def test_released_weights_load_with_plain_keras_and_match_the_card(tmp_path):
    """model_zoo/PCLR/PCLR.h5: upstream's README snippet, and the SavedModel `pclr export`
    makes of it for TF Serving (not committed), both in a fresh process."""
    import hashlib
    import re

    from pclr_keras.cli import main as pclr_main

    weights = MODEL_ZOO / "PCLR.h5"
    card = (MODEL_ZOO / "MODEL_CARD.md").read_text()
    for name in ("PCLR.h5", "PCLR.keras"):
        digest = hashlib.sha256((MODEL_ZOO / name).read_bytes()).hexdigest()
        assert re.search(rf"`{re.escape(name)}` {digest}", card), f"{name} hash not in the card"
    assert pclr_main(["export", "--weights", str(weights), "--out", str(tmp_path / "models"),
                      "--formats", "savedmodel"]) == 0
    x = np.random.default_rng(0).normal(scale=0.3, size=(2, 4096, 12)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    result = run_upstream_snippet(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        from tensorflow.keras.models import load_model
        model = load_model({str(weights)!r})
        serving = tf.saved_model.load({str(tmp_path / "models" / "PCLR" / "1")!r})
        x = np.load("x.npy")
        np.save("h5.npy", model.predict(x, verbose=0))
        np.save("serving.npy", serving.signatures["serving_default"](ecg=x)["embed"].numpy())
        raw = serving.signatures["embed_raw"](ecg=x, fs=tf.constant([409.6, 409.6]))["embed"]
        np.save("raw.npy", raw.numpy())
        assert not [m for m in sys.modules if m.startswith("pclr_keras")]
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = load_encoder(weights).predict(x, verbose=0)
    # 4096 samples at 409.6 Hz are exactly the 10 s window: embed_raw leaves them as they are.
    for name in ("h5.npy", "serving.npy", "raw.npy"):
        np.testing.assert_allclose(np.load(tmp_path / name), expected, rtol=1e-4, atol=1e-5)
