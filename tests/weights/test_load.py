"""`load_encoder`, the one way in: packaged presets, preset folders, heads cut off.

Every other source is tested where it is made or found: our `.h5`/`.keras`
in tests/export/test_artifacts.py, ml4h's files in test_upstream.py, names
and downloads in test_resolve.py.
"""

import hashlib
import json
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import SMALL_ENCODER
from pclr_keras.export.artifacts import save_preset
from pclr_keras.models import build_encoder, build_pretraining_model
from pclr_keras.weights import presets
from pclr_keras.weights.load import encoder_only, load_encoder
from weights_fixtures import ecgs, sha256, small_encoder  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
MODEL_ZOO_H5 = ROOT / "model_zoo" / "PCLR" / "PCLR.h5"
V01_COMMIT = "9579182"  # the commit whose model_zoo/PCLR/PCLR.h5 is the v0.1 release
V02_COMMIT = "d22b241"  # ... and the last whose file is the v0.2 release


def test_pclr_ptbxl_is_the_released_encoder_with_identical_outputs():
    preset = load_encoder("pclr-ptbxl")
    released = load_encoder(MODEL_ZOO_H5)
    assert preset.input.shape == (None, 4096, 12) and preset.output.shape == (None, 320)
    batch = ecgs(preset, n=2)
    np.testing.assert_array_equal(preset.predict(batch, verbose=0),
                                  released.predict(batch, verbose=0))
    current = presets.WEIGHTS_DIR / presets.ALIASES["pclr-ptbxl"]
    metadata = json.loads((current / "metadata.json").read_text())
    assert metadata["converted_from"].endswith(sha256(MODEL_ZOO_H5))


@pytest.mark.parametrize("commit, name", [(V01_COMMIT, "pclr-ptbxl-v0.1"),
                                          (V02_COMMIT, "pclr-ptbxl-v0.2")])
def test_earlier_releases_hold_their_model_zoo_file_from_the_git_history(tmp_path, commit, name):
    shown = subprocess.run(["git", "show", f"{commit}:model_zoo/PCLR/PCLR.h5"],
                           cwd=ROOT, capture_output=True)
    if shown.returncode != 0:
        pytest.skip(f"the git history with commit {commit} is not here (a shallow clone?)")
    (tmp_path / "released.h5").write_bytes(shown.stdout)
    released, preset = load_encoder(tmp_path / "released.h5"), load_encoder(name)
    assert len(released.weights) == len(preset.weights)
    for a, b in zip(released.get_weights(), preset.get_weights()):
        np.testing.assert_array_equal(a, b)
    metadata = json.loads((presets.ARCHIVE_DIR / name / "metadata.json").read_text())
    assert metadata["converted_from"].endswith(hashlib.sha256(shown.stdout).hexdigest())


def test_a_preset_folder_with_replaced_weights_is_refused(small_encoder, tmp_path):
    folder = save_preset(small_encoder, tmp_path / "mine")
    other = save_preset(build_encoder("pclr", **SMALL_ENCODER), tmp_path / "other")
    (folder / "model.weights.h5").write_bytes((other / "model.weights.h5").read_bytes())
    with pytest.raises(ValueError, match=r"model.weights.h5: SHA-256 .* but metadata.json says"):
        load_encoder(folder)


def test_encoder_only_cuts_a_head_keeps_the_weights_and_refuses_models_without_embed(
        small_encoder):
    with_head = build_pretraining_model(small_encoder, projection_dims=(16, 16))
    cut = encoder_only(with_head)
    assert cut.layers[-1].name == "embed" and cut.output.shape == small_encoder.output.shape
    batch = ecgs(small_encoder)
    np.testing.assert_array_equal(cut.predict(batch, verbose=0),
                                  small_encoder.predict(batch, verbose=0))
    assert encoder_only(small_encoder) is small_encoder
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="other")
    with pytest.raises(ValueError, match="'other' has no 'embed' layer"):
        encoder_only(other)
