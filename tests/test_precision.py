"""Precision: what `auto` picks, models computing in bfloat16, and how close they stay."""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import NARROW_ENCODER, SMALL_ENCODER, require_shared
from pclr_keras.cli import main as pclr_main
from pclr_keras.models import build_encoder, build_pretraining_model
from pclr_keras.precision import (
    auto_precision, compute_precision, describe_precision, policy_name, resolve_precision,
    with_precision)

REPO = Path(__file__).resolve().parents[1]
RELEASED = REPO / "model_zoo" / "PCLR" / "PCLR.h5"


def cosines(a, b):
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def cpuinfo(tmp_path, flags):
    path = tmp_path / f"cpuinfo_{len(flags)}"
    path.write_text("".join(f"processor\t: {i}\nflags\t\t: fpu sse2 avx2 {' '.join(flags)}\n\n"
                            for i in range(2)))
    return path


@pytest.mark.parametrize("flags,gpus,expected", [
    (["avx512f", "avx512_bf16"], [], "bfloat16"),
    (["amx_bf16", "amx_tile"], [], "bfloat16"),
    (["avx512f", "avx512_vnni"], [], "float32"),
    ([], [(8, 0)], "bfloat16"),
    (["avx512_bf16"], [(7, 5)], "float32"),  # the model runs on the GPU, which lacks it
    (["avx512_bf16"], [(9, 0), (7, 0)], "float32"),  # the slowest GPU decides
])
def test_auto_picks_bfloat16_only_where_the_hardware_has_it(tmp_path, flags, gpus, expected):
    chosen, why = auto_precision(cpuinfo(tmp_path, flags), gpus=gpus)
    assert chosen == expected
    assert ("GPU compute capability" if gpus else "the CPU reports") in why


def test_named_precisions_and_their_errors():
    assert [policy_name(p) for p in ("float32", "bfloat16", "float16")] == \
        ["float32", "mixed_bfloat16", "mixed_float16"]
    assert resolve_precision("bfloat16") == "bfloat16"
    assert describe_precision("float16") == "precision: float16"
    assert describe_precision("auto").startswith(f"precision: {resolve_precision('auto')} (auto: ")
    with pytest.raises(ValueError, match="Unknown precision 'bf16'; choose one of"):
        resolve_precision("bf16")


def test_bfloat16_model_keeps_float32_weights_inputs_outputs_and_normalisation():
    encoder = build_encoder(**SMALL_ENCODER)
    model = build_pretraining_model(encoder, (16, 16))
    reduced = with_precision(model, "bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in reduced.layers}
    assert policies["conv1d"] == policies["add"] == policies["projection_0"] == "mixed_bfloat16"
    assert policies["batch_normalization"] == policies["embed"] == policies["projection"] \
        == "float32"
    assert compute_precision(reduced) == "bfloat16" and compute_precision(model) == "float32"
    assert reduced.input.dtype == reduced.output.dtype == "float32"
    assert [layer.name for layer in reduced.layers] == [layer.name for layer in model.layers]
    for got, want in zip(reduced.get_weights(), model.get_weights(), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)

    x = np.random.default_rng(0).normal(size=(4, 256, 12)).astype(np.float32)
    embed = keras.Model(reduced.input, reduced.get_layer("embed").output)
    assert embed(x).dtype == "float32"
    assert not np.array_equal(embed(x), encoder(x))  # it really computes in 16 bits
    # float32 is the model itself (bit for bit), also when asked of a bfloat16 copy.
    assert with_precision(encoder, "float32") is encoder
    assert with_precision(encoder, None) is encoder
    back = with_precision(reduced, "float32")
    np.testing.assert_array_equal(back(x), model(x))


def test_bfloat16_embeddings_of_real_ecgs_stay_within_the_accuracy_guard():
    """The released encoder on the PTB-XL sample: cosine >= 0.9999 to float32, every ECG."""
    from pclr_keras.weights.load import load_encoder
    from pclr_keras.embedding import embed_files
    from pclr_keras.io import find_ecg_files

    files = find_ecg_files([require_shared("data/ptbxl/records100")])[:48]
    assert len(files) == 48
    results = {precision: embed_files(load_encoder(RELEASED, precision=precision), files,
                                      "pclr", progress=False, workers=1)
               for precision in ("float32", "bfloat16")}
    assert results["float32"].sources == results["bfloat16"].sources
    assert len(results["float32"].sources) == len(files)
    f32, bf16 = results["float32"].embeddings, results["bfloat16"].embeddings
    assert bf16.dtype == np.float32
    similarity = cosines(f32, bf16)
    assert similarity.min() >= 0.9999, similarity.min()
    assert not np.array_equal(f32, bf16)


@pytest.fixture(scope="module")
def narrow_model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "narrow.keras"
    build_encoder("pclr", **NARROW_ENCODER).save(path)
    return path


def test_embed_in_bfloat16_recomputes_float32_parts_and_says_what_it_ran(
        synthetic_tensors, narrow_model, tmp_path, capsys):
    out = tmp_path / "embeddings.parquet"
    common = ["embed", "--model", str(narrow_model), "--data", str(synthetic_tensors),
              "--chunk-size", "64", "--batch-size", "32", "--out", str(out)]
    assert pclr_main(common) == 0
    f32 = pd.read_parquet(out)
    summary = json.loads(out.with_name(out.name + ".summary.json").read_text())
    assert summary["precision"] == "float32"

    assert pclr_main(common + ["--precision", "bfloat16"]) == 0
    captured = capsys.readouterr()
    assert "precision: bfloat16" in captured.err
    assert "(pclr, bfloat16)" in captured.out
    summary = json.loads(out.with_name(out.name + ".summary.json").read_text())
    assert summary["precision"] == "bfloat16" and summary["parts_reused"] == 0
    bf16 = pd.read_parquet(out)
    assert list(bf16.ecg_id) == list(f32.ecg_id)
    columns = [c for c in f32.columns if c.startswith("embed_")]
    a, b = f32[columns].to_numpy(), bf16[columns].to_numpy()
    assert b.dtype == np.float32 and not np.array_equal(a, b)
    assert cosines(a, b).min() >= 0.999

    assert pclr_main(common + ["--precision", "auto"]) == 0
    assert "(auto: " in capsys.readouterr().err


def test_export_writes_a_bfloat16_saved_model_beside_the_float32_one(narrow_model, tmp_path):
    import tensorflow as tf

    from pclr_keras.export.serving import WARMUP_FILE
    from pclr_keras.synthetic import example_ecg

    assert pclr_main(["export", "--model", str(narrow_model), "--out", str(tmp_path),
                      "--formats", "h5,savedmodel", "--precision", "bfloat16"]) == 0
    for folder in ("PCLR/1", "PCLR_bf16/1"):
        assert (tmp_path / folder / "saved_model.pb").exists(), folder
        assert (tmp_path / folder / WARMUP_FILE).stat().st_size > 0, folder
    assert compute_precision(keras.models.load_model(tmp_path / "PCLR.h5")) == "float32"

    raw = np.stack([example_ecg(fs=100.0, seed=seed) for seed in range(3)]).astype(np.float32)
    fs = np.full(3, 100.0, np.float32)
    outputs = {}
    for folder in ("PCLR/1", "PCLR_bf16/1"):
        served = tf.saved_model.load(str(tmp_path / folder))
        outputs[folder] = served.signatures["embed_raw"](ecg=tf.constant(raw),
                                                        fs=tf.constant(fs))["embed"]
        assert outputs[folder].dtype == tf.float32
        assert served.signatures["serving_default"].structured_input_signature[1]["ecg"].dtype \
            == tf.float32
    f32, bf16 = outputs["PCLR/1"].numpy(), outputs["PCLR_bf16/1"].numpy()
    assert not np.array_equal(f32, bf16)
    assert cosines(f32, bf16).min() >= 0.9999

    with pytest.raises(SystemExit, match="extra SavedModel; add savedmodel to the formats"):
        pclr_main(["export", "--model", str(narrow_model), "--out", str(tmp_path / "x"),
                   "--formats", "h5", "--precision", "bfloat16"])


@pytest.mark.parametrize("flags,inference,expected", [
    (["avx512f", "avx512_vnni"], True, "int8"),
    (["avx_vnni"], True, "int8"),
    (["avx512_vnni", "avx512_bf16"], True, "bfloat16"),  # bfloat16 as fast, and closer
    (["avx512_vnni"], False, "float32"),  # training: never int8
    (["avx2"], True, "float32"),
])
def test_auto_picks_int8_for_inference_only_on_vnni_cpus_without_bfloat16(
        tmp_path, flags, inference, expected):
    chosen, why = auto_precision(cpuinfo(tmp_path, flags), gpus=[], inference=inference)
    assert chosen == expected
    if expected == "int8":
        assert why == (f"the CPU reports {flags[-1]} and no bfloat16; kept only if the "
                       "accuracy guard passes")


def test_int8_is_for_inference_only():
    with pytest.raises(ValueError, match="Unknown precision 'int8'"):
        resolve_precision("int8")
    assert resolve_precision("int8", inference=True) == "int8"
    with pytest.raises(ValueError, match="^int8 is a quantized copy"):
        with_precision(build_encoder(**SMALL_ENCODER), "int8")
