"""Shared fixtures: the real data beside the checkout, and small model sizes."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Narrow, short encoders for tests that check behaviour, not the architecture.
SMALL_ENCODER = dict(input_length=256, stem_filters=8, unit_filters=(8, 12, 16, 16),
                     unit_lengths=(64, 16, 4, 1))
# Narrow encoders that read the full 4096 x 12 input, for training tests.
NARROW_ENCODER = dict(stem_filters=8, unit_filters=(8, 12, 16, 16))


def require_shared(relative=""):
    """Path under ../shared, or skip (fail where PCLR_REQUIRE_SHARED=1, as in CI)."""
    path = SHARED / relative
    if not path.exists():
        reason = (f"needs the real data in {path}: present in CI, absent in a fresh clone "
                  "(see README, 'Tests')")
        if os.environ.get("PCLR_REQUIRE_SHARED") == "1":
            pytest.fail(reason + "; PCLR_REQUIRE_SHARED=1 makes it mandatory")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def upstream_arch():
    import json

    return json.loads(require_shared("reference/upstream_pclr_arch.json").read_text())["models"]


@pytest.fixture(scope="session")
def upstream_files(tmp_path_factory):
    """ml4h-style Keras 2 files (h5, SavedModel), written once by tf_keras."""
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras (Keras 2) is not installed; it writes the ml4h-style files.")
    out = tmp_path_factory.mktemp("upstream")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("upstream_fixtures.py")), str(out)],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.fixture(scope="session")
def synthetic_tensors(tmp_path_factory):
    """A tensorized synthetic cohort: 48 patients with 2-3 ECGs each (pclr variant)."""
    from pclr_keras.synthetic import write_cohort
    from pclr_keras.tensorize import read_manifest, tensorize

    root = tmp_path_factory.mktemp("cohort")
    inputs, _ = read_manifest(write_cohort(root / "records", patients=48, seed=0))
    tensorize(inputs, root / "tensors", workers=1, progress=False)
    return root / "tensors"


def pytest_configure(config):
    # Notices from our dependencies about their own code, not ours.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword")
    config.addinivalue_line("filterwarnings", "ignore:.*tf.lite.Interpreter is deprecated")
    config.addinivalue_line(  # wfdb's own pandas call
        "filterwarnings", "ignore:The inplace keyword in DataFrame")
