"""What the tests of weights/ share: a small encoder, inputs for it, file digests."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_ENCODER
from pclr_keras.models import build_encoder


@pytest.fixture(scope="module")
def small_encoder():
    return build_encoder("pclr", **SMALL_ENCODER)


def ecgs(encoder, n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *encoder.input.shape[1:])).astype("float32")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
