"""A small PTB-XL sample archive built from ../shared, for the tests of what reads it.

Two ECGs per fold (20 in all) keeps the build to about a second; the
packaged sample's size is tested in tests/datasets/test_sample_build.py.
"""

import pytest

from conftest import require_shared
from pclr_keras.datasets.sample_build import build_sample

PER_FOLD = 2


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    """The path of a sample archive of 20 PTB-XL ECGs (2 per fold)."""
    source = require_shared("data/ptbxl")
    return build_sample(source, tmp_path_factory.mktemp("sample_build"), per_fold=PER_FOLD)
