"""Encoders run from `.onnx` / `.tflite` files embed as the Keras model does, locally and
on Beam, and an int8 file carries its guard into the summary."""

import importlib.util
import json

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import NARROW_ENCODER
from ecg_files import ecg_like, write_wfdb
from pclr_keras.cli import main as pclr_main
from pclr_keras.embedding import embed
from pclr_keras.export.artifacts import export_encoder
from pclr_keras.models import build_encoder


def rows(path):
    table = pd.read_parquet(path).set_index("ecg_id").sort_index()
    return table.index.tolist(), table.filter(like="embed_").to_numpy()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """ECG files, and a narrow encoder as .keras, .tflite, .onnx and int8 .onnx."""
    base = tmp_path_factory.mktemp("runtimes")
    folder = base / "ecgs"
    folder.mkdir()
    for k in range(24):
        write_wfdb(folder, f"e{k:02d}", ecg_like(seed=k))
    keras.utils.set_random_seed(0)
    encoder = build_encoder("pclr", **NARROW_ENCODER)
    written = export_encoder(encoder, base / "model", name="narrow",
                             formats=("keras", "tflite", "onnx"))
    assert pclr_main(["export", "--model", str(written["keras"]), "--out", str(base / "model"),
                      "--name", "narrow", "--formats", "onnx", "--precision", "int8",
                      "--calibration", str(folder)]) in (None, 0)
    written["onnx_int8"] = base / "model" / "narrow_int8.onnx"
    return folder, written


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_float32_file_embeds_as_the_keras_model(exported, fmt, tmp_path):
    folder, written = exported
    summaries = {name: embed(str(written[name]), folder, tmp_path / f"{name}.parquet",
                             progress=False) for name in ("keras", fmt)}
    ids, keras_rows = rows(tmp_path / "keras.parquet")
    assert rows(tmp_path / f"{fmt}.parquet")[0] == ids and len(ids) == 24
    np.testing.assert_allclose(rows(tmp_path / f"{fmt}.parquet")[1], keras_rows, atol=1e-4)
    assert summaries[fmt]["model"] == f"narrow.{fmt}"
    assert summaries[fmt]["precision"] == "float32"
    assert summaries[fmt]["model_digest"] != summaries["keras"]["model_digest"]


def test_an_int8_file_reports_the_guard_it_was_made_with(exported, tmp_path):
    folder, written = exported
    summary = embed(str(written["onnx_int8"]), folder, tmp_path / "int8.parquet", progress=False)
    guard = summary["int8_guard"]
    assert summary["precision"] == "int8" and guard["runtime"] == "onnxruntime"
    assert guard["ecgs"] == len(guard["cosines"]) > 0
    assert guard["calibration_ecgs"] + guard["ecgs"] == 24
    with pytest.raises(ValueError, match="computes as it was exported; --precision bfloat16"):
        embed(str(written["onnx_int8"]), folder, tmp_path / "bf16.parquet", progress=False,
              precision="bfloat16")


@pytest.mark.skipif(importlib.util.find_spec("apache_beam") is None,
                    reason="Apache Beam is not installed: pip install -e '.[dev,beam]'")
def test_beam_embeds_with_an_onnx_file_as_the_local_job(exported, tmp_path):
    folder, written = exported
    local, beam = tmp_path / "local.parquet", tmp_path / "beam.parquet"
    embed(str(written["onnx_int8"]), folder, local, progress=False)
    assert pclr_main(["embed", "--model", str(written["onnx_int8"]), "--data", str(folder),
                      "--out", str(beam), "--batch-size", "4", "--runner", "beam",
                      "--beam-options=--direct_num_workers=1"]) == 0
    assert rows(beam)[0] == rows(local)[0]
    np.testing.assert_allclose(rows(beam)[1], rows(local)[1], atol=1e-5)
    summary = json.loads(open(f"{beam}.summary.json").read())
    assert summary["precision"] == "int8" and summary["int8_guard"]["passed"] in (True, False)
