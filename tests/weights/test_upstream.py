"""Tests of `pclr_keras.weights.upstream` against Keras 2 files written by tf_keras.

`upstream_fixtures.py` builds ml4h-style models in tf_keras (Keras 2) in a
subprocess and saves them as ml4h did; loading them must give our encoder
with tf_keras's outputs.
"""

import json
import shutil

import h5py
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from pclr_keras.weights.upstream import load_upstream

ATOL = 1e-5


@pytest.fixture(scope="module")
def fixtures(upstream_files):
    return upstream_files


@pytest.fixture(scope="module")
def reference(fixtures):
    return dict(np.load(fixtures / "reference.npz"))


@pytest.fixture(scope="module")
def fixture_layers(fixtures):
    return json.loads((fixtures / "layers.json").read_text())


def embed(model, x):
    return model(x, training=False).numpy()


@pytest.mark.parametrize("fixture_name, upstream_name", [
    ("pclr", "12lead"), ("lead_II", "lead_II")])
def test_fixture_is_faithful_to_upstream(fixtures, fixture_layers, upstream_arch,
                                        fixture_name, upstream_name):
    upstream = upstream_arch[upstream_name]
    ours = [layer for layer in fixture_layers[fixture_name]
            if not layer["name"].startswith("projection")]
    assert [(l["name"], l["class"], l["inbound"]) for l in ours] == [
        (l["name"], l["class"], l["inbound"]) for l in upstream["layers"]]
    assert [w for layer in ours for w in layer["weights"]] == upstream["variables"]

    folder = fixtures / {"pclr": "PCLR", "lead_II": "PCLR_lead_II"}[fixture_name]
    stored = tf.train.load_checkpoint(str(folder / "variables" / "variables")
                                      ).get_variable_to_shape_map()
    keys = {l["name"]: l["checkpoint_key"] for l in upstream["layers"] if "checkpoint_key" in l}
    for name, shape in upstream["variables"]:
        layer, attr = name.split("/")
        assert stored[f"{keys[layer]}/{attr}/.ATTRIBUTES/VARIABLE_VALUE"] == shape

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((folder / "saved_model.pb").read_bytes())
    signature = saved_model.meta_graphs[0].signature_def["serving_default"]
    assert list(signature.inputs) == ["ecg"] and list(signature.outputs) == ["embed"]
    assert [d.size for d in signature.inputs["ecg"].tensor_shape.dim] == (
        upstream["signatures"]["serving_default"]["inputs"]["ecg"]["shape"])


@pytest.mark.parametrize("artifact, name, kwargs", [
    ("pclr.h5", "pclr", {}),
    ("PCLR", "pclr", {}),
    ("pclr_weights.h5", "pclr", {"variant": "pclr"}),
    ("lead_II.h5", "lead_II", {}),
    ("PCLR_lead_II", "lead_II", {}),
    ("c3po.h5", "c3po", {}),
])
def test_load_matches_tf_keras(fixtures, reference, artifact, name, kwargs):
    encoder = load_upstream(fixtures / artifact, **kwargs)
    x = reference[f"x_{name}"]
    assert encoder.layers[-1].name == "embed"
    assert tuple(encoder.input.shape) == (None,) + x.shape[1:]
    assert not any(layer.name.startswith("projection") for layer in encoder.layers)
    np.testing.assert_allclose(embed(encoder, x), reference[f"embed_{name}"], atol=ATOL, rtol=0)


def test_h5_and_saved_model_agree(fixtures, reference):
    from_h5 = load_upstream(fixtures / "pclr.h5")
    from_folder = load_upstream(str(fixtures / "PCLR"), variant="pclr")
    for a, b in zip(from_h5.weights, from_folder.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = reference["x_pclr"]
    np.testing.assert_allclose(embed(from_h5, x), embed(from_folder, x), atol=ATOL, rtol=0)


def test_shifted_layer_names_still_load(fixtures, fixture_layers):
    # A real file's names depend on what was built before it in that session.
    names = [layer["name"] for layer in fixture_layers["c3po"]]
    assert names[1] != "conv1d" and "conv1d" not in names
    encoder = load_upstream(fixtures / "c3po.h5")
    assert tuple(encoder.input.shape) == (None, 2500, 12)


@pytest.mark.parametrize("artifact, variant", [
    ("pclr.h5", "c3po"), ("pclr.h5", "lead_I"), ("PCLR", "lead_II"), ("lead_II.h5", "lead_I")])
def test_variant_mismatch_raises(fixtures, artifact, variant):
    with pytest.raises(ValueError, match=f"does not fit variant '{variant}'"):
        load_upstream(fixtures / artifact, variant=variant)


def test_weights_only_12_lead_needs_variant(fixtures):
    with pytest.raises(ValueError, match="pass variant="):
        load_upstream(fixtures / "pclr_weights.h5")


def test_weight_shape_mismatch_names_file_weight_and_shapes(fixtures, tmp_path):
    path = tmp_path / "bad_weights.h5"
    shutil.copy(fixtures / "pclr_weights.h5", path)
    with h5py.File(path, "r+") as f:
        del f["conv1d_3/conv1d_3/kernel:0"]
        f["conv1d_3/conv1d_3/kernel:0"] = np.zeros((16, 128, 100), "float32")
    with pytest.raises(ValueError) as error:
        load_upstream(path, variant="pclr")
    message = str(error.value)
    assert "bad_weights.h5" in message and "conv1d_3/kernel:0" in message
    assert "(16, 128, 100)" in message and "(16, 128, 128)" in message


def test_no_embed_layer_raises(fixtures, tmp_path):
    path = tmp_path / "no_embed.h5"
    shutil.copy(fixtures / "lead_II.h5", path)
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = f.attrs["model_config"].replace('"embed"', '"pooled"')
    with pytest.raises(ValueError, match="no `embed` layer"):
        load_upstream(path)


def test_lfs_pointer_raises(fixtures, tmp_path):
    pointer = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:0123456789abcdef\nsize 26544504\n")
    (tmp_path / "PCLR.h5").write_text(pointer)
    with pytest.raises(ValueError, match="git lfs pull"):
        load_upstream(tmp_path / "PCLR.h5")
    folder = tmp_path / "PCLR"
    shutil.copytree(fixtures / "PCLR", folder)
    (folder / "variables" / "variables.data-00000-of-00001").write_text(pointer)
    with pytest.raises(ValueError, match="git lfs pull"):
        load_upstream(folder)


def test_missing_path_and_unknown_format_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_upstream(tmp_path / "missing.h5")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="neither an HDF5 file nor a SavedModel"):
        load_upstream(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_upstream(tmp_path)


def test_reexported_ml4h_saved_model_serves_raw_ecgs(fixtures, tmp_path):
    """`pclr export --weights` of ml4h's folder: embed_raw = preprocess_ecg + its encoder."""
    from conftest import require_shared
    from pclr_keras.cli import main as pclr_main
    from pclr_keras.export.serving import RAW_SIGNATURE, WARMUP_FILE, grpc_request
    from pclr_keras.io import read_wfdb
    from pclr_keras.preprocess import preprocess_ecg
    from serving_client import serve

    record = read_wfdb(require_shared("data/ludb/data") / "1")
    assert pclr_main(["export", "--weights", str(fixtures / "PCLR_lead_II"), "--out",
                      str(tmp_path), "--name", "PCLR_lead_II", "--formats", "savedmodel"]) == 0
    saved_model = tmp_path / "PCLR_lead_II" / "1"
    assert (saved_model / WARMUP_FILE).is_file()
    answer = serve(saved_model, {"ludb": grpc_request(record, variant="lead_II")}, tmp_path)
    assert answer["ludb"]["signature"] == RAW_SIGNATURE
    x = preprocess_ecg(record.signal, record.fs, record.lead_names, "lead_II")[np.newaxis]
    np.testing.assert_allclose(np.array(answer["ludb"]["embed"], np.float32),
                               embed(load_upstream(fixtures / "PCLR_lead_II"), x),
                               atol=ATOL, rtol=0)
