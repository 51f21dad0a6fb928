"""int8 embedding: calibrated on real PTB-XL ECGs, every ECG's representation within
the accuracy guard of float32's, the guard in the summary; auto falls back when it fails."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import require_shared
from pclr_keras.export.quantize import GUARD_COSINE, INT8_RUNTIME, cosines

RELEASED = Path(__file__).resolve().parents[2] / "model_zoo" / "PCLR" / "PCLR.h5"


@pytest.fixture(scope="module")
def ptbxl_folder(tmp_path_factory):
    """160 real PTB-XL ECGs, tensorized."""
    from pclr_keras.cli import main as pclr_main
    from pclr_keras.io import find_ecg_files

    files = find_ecg_files([require_shared("data/ptbxl/records100")])[:160]
    out = tmp_path_factory.mktemp("int8") / "tensors"
    assert pclr_main(["tensorize", *map(str, files), "--out", str(out)]) in (None, 0)
    return out


def embeddings(path):
    table = pd.read_parquet(path).sort_values("ecg_id")
    return table["ecg_id"].tolist(), table.filter(like="embed_").to_numpy()


@pytest.mark.slow
def test_int8_embeddings_of_real_ecgs_stay_within_the_guard(ptbxl_folder, tmp_path):
    from pclr_keras.embedding import embed

    summaries = {precision: embed(str(RELEASED), ptbxl_folder, tmp_path / f"{precision}.parquet",
                                  precision=precision, progress=False)
                 for precision in ("float32", "int8")}
    ids32, f32 = embeddings(tmp_path / "float32.parquet")
    ids8, int8 = embeddings(tmp_path / "int8.parquet")
    assert ids32 == ids8 and len(ids8) >= 150
    similarity = cosines(f32, int8)
    assert similarity.min() >= GUARD_COSINE, similarity.min()  # every ECG, not only the guard's
    assert not np.allclose(f32, int8, atol=1e-4)  # it really ran quantized
    guard = summaries["int8"]["int8_guard"]
    stored = json.loads((tmp_path / "int8.parquet.summary.json").read_text())["int8_guard"]
    assert stored == guard and guard["passed"] and guard["runtime"] == INT8_RUNTIME == "tflite"
    assert guard["ecgs"] == len(guard["cosines"]) >= 32
    assert guard["min_cosine"] == pytest.approx(min(guard["cosines"]), abs=1e-6)
    assert summaries["int8"]["precision"] == "int8" and "int8_guard" not in summaries["float32"]


def test_a_failed_guard_refuses_int8_and_auto_falls_back(ptbxl_folder, monkeypatch):
    import pclr_keras.embedding.int8 as int8
    from pclr_keras.embedding.model import resolve_model
    from pclr_keras.weights.load import load_encoder

    def failing(encoder, sources, variant, **_):
        class Quantized:
            guard = {"passed": False, "min_cosine": 0.9, "threshold": GUARD_COSINE, "ecgs": 64}
        return Quantized()

    monkeypatch.setattr(int8, "int8_encoder", failing)
    encoder = load_encoder(str(RELEASED))
    with pytest.raises(ValueError, match=r"^int8 accuracy guard failed: lowest cosine to "
                                         r"float32 0.9 < 0.995 on 64 ECGs; embed in float32"):
        resolve_model(encoder, "int8", ptbxl_folder)
    monkeypatch.setattr("pclr_keras.embedding.model.auto_precision",
                        lambda inference: ("int8", "the CPU reports avx512_vnni"))
    chosen, _ = resolve_model(encoder, "auto", ptbxl_folder)
    assert chosen is encoder  # float32, the model as it is
