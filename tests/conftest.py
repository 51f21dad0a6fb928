"""Shared fixtures: the real data beside the checkout, and small model sizes."""

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Narrow, short encoders for tests that check behaviour, not the architecture.
SMALL_ENCODER = dict(input_length=256, stem_filters=8, unit_filters=(8, 12, 16, 16),
                     unit_lengths=(64, 16, 4, 1))


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


def pytest_configure(config):
    # Keras' own numpy-2 notice and TF's TFLite deprecation notice, not ours.
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword")
    config.addinivalue_line("filterwarnings", "ignore:.*tf.lite.Interpreter is deprecated")
