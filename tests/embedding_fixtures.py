"""Fixtures and readers shared by the embedding tests: a narrow encoder (in memory
and as a file) and the output tables an embedding job writes."""

import keras
import pandas as pd
import pytest

from conftest import NARROW_ENCODER
from pclr_keras.export.artifacts import export_encoder
from pclr_keras.models import build_encoder

ATOL = 1e-5


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(0)
    return build_encoder("pclr", **NARROW_ENCODER)


@pytest.fixture(scope="module")
def encoder_file(encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    return export_encoder(encoder, out, name="narrow", formats=("keras",))["keras"]


def read_output(path):
    if str(path).endswith((".csv", ".txt")):
        return pd.read_csv(path, dtype={c: str for c in ("ecg_id", "patient_id", "source",
                                                     "quality")},
                           keep_default_na=False)
    return pd.read_parquet(path)


def vectors(frame):
    return frame[[c for c in frame if c.startswith("embed_")]].to_numpy()
