"""Presets by name: the packaged weights, preset folders, and every download source.

Downloads come from a server on 127.0.0.1 (`local_server.py`); the Hugging
Face test builds the Hub's cache layout and loads it with HF_HUB_OFFLINE=1;
ml4h's presets are tested by their pinned metadata, offline, and with files
of another hash. No test reaches the internet.
"""

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_ENCODER
from local_server import serve  # noqa: F401 (a fixture)
from pclr_keras import presets
from pclr_keras.artifacts import load_encoder, save_preset
from pclr_keras.cli import main as pclr_main
from pclr_keras.models import build_encoder
from pclr_keras.presets import PRESETS, PresetFile, PresetUnavailableError

ROOT = Path(__file__).resolve().parents[1]
MODEL_ZOO_H5 = ROOT / "model_zoo" / "PCLR" / "PCLR.h5"
V01_COMMIT = "9579182"  # the commit whose model_zoo/PCLR/PCLR.h5 is the v0.1 release
V02_COMMIT = "d22b241"  # ... and the last whose file is the v0.2 release


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PCLR_CACHE", str(folder))
    monkeypatch.delenv("PCLR_OFFLINE", raising=False)
    return folder


@pytest.fixture(scope="module")
def small_encoder():
    return build_encoder("pclr", **SMALL_ENCODER)


def ecgs(encoder, n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *encoder.input.shape[1:])).astype("float32")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- the packaged presets -----------------------------------------------------
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
    metadata = json.loads((presets.WEIGHTS_DIR / name / "metadata.json").read_text())
    assert metadata["converted_from"].endswith(hashlib.sha256(shown.stdout).hexdigest())


def test_every_preset_says_what_it_is_and_has_a_model_card():
    assert presets.ALIASES["pclr-ptbxl"] in PRESETS
    for preset in PRESETS.values():
        card = Path(presets.__file__).parent / preset.model_card
        assert card.is_file(), preset.name
        for field in ("version", "variant", "training_data", "code_licence", "weights_licence",
                      "source_url", "date"):
            assert getattr(preset, field), (preset.name, field)
        assert len(preset.sha256) == 64 and preset.size > 20_000_000
        if preset.packaged:
            metadata = json.loads((presets.WEIGHTS_DIR / preset.packaged / "metadata.json")
                                  .read_text())
            assert metadata["preset_version"] == preset.version
            assert metadata["input_shape"] == [None, *preset.input_shape]


def test_an_unknown_name_lists_the_presets_and_the_closest_one():
    with pytest.raises(FileNotFoundError) as caught:
        load_encoder("pclr-ptbx")
    message = str(caught.value)
    assert "Did you mean 'pclr-ptbxl'" in message
    assert all(name in message for name in PRESETS)
    with pytest.raises(FileNotFoundError, match="(?s)Presets:\n.*pclr-ml4h"):
        load_encoder("pclr-nope")


# -- preset folders -----------------------------------------------------------
def test_save_preset_writes_kerashub_layout_and_loads_back_identical(small_encoder, tmp_path):
    folder = save_preset(small_encoder, tmp_path / "mine", metadata={"preset_version": "7"},
                         model_card="# my card\n")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "config.json", "metadata.json", "model.weights.h5"]
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["parameter_count"] == small_encoder.count_params()
    assert metadata["weights_sha256"] == sha256(folder / "model.weights.h5")
    assert metadata["preset_version"] == "7"
    batch = ecgs(small_encoder)
    np.testing.assert_array_equal(load_encoder(folder).predict(batch, verbose=0),
                                  small_encoder.predict(batch, verbose=0))
    save_preset(small_encoder, folder)  # replacing an existing folder
    assert not (folder / "README.md").exists()


def test_a_preset_folder_with_replaced_weights_is_refused(small_encoder, tmp_path):
    folder = save_preset(small_encoder, tmp_path / "mine")
    other = save_preset(build_encoder("pclr", **SMALL_ENCODER), tmp_path / "other")
    (folder / "model.weights.h5").write_bytes((other / "model.weights.h5").read_bytes())
    with pytest.raises(ValueError, match=r"model.weights.h5: SHA-256 .* but metadata.json says"):
        load_encoder(folder)


# -- https:// -----------------------------------------------------------------
@pytest.fixture
def served_model(small_encoder, tmp_path, serve):
    """(base URL, server state, file name, SHA-256) of a small .keras encoder on 127.0.0.1."""
    site = tmp_path / "site"
    site.mkdir()
    small_encoder.save(site / "small.keras")
    (site / "short.keras").write_bytes((site / "small.keras").read_bytes()[:5000])
    base, state = serve(site)
    return base, state, "small.keras", sha256(site / "small.keras")


def test_https_file_of_the_right_hash_is_cached_and_then_loads_without_the_server(
        served_model, cache, small_encoder):
    base, state, name, digest = served_model
    encoder = load_encoder(f"{base}/{name}", sha256=digest)
    batch = ecgs(small_encoder)
    np.testing.assert_array_equal(encoder.predict(batch, verbose=0),
                                  small_encoder.predict(batch, verbose=0))
    cached = cache / "downloads" / digest[:16] / name
    assert sha256(cached) == digest and not list(cached.parent.glob("*.part"))
    requests = len(state.requests)
    load_encoder(f"{base}/{name}#sha256={digest}")  # the URL form of the hash
    assert len(state.requests) == requests


def test_https_file_of_another_hash_is_deleted_and_reported(served_model, cache):
    base, _, name, digest = served_model
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"expected {wrong}, got {digest}.*deleted"):
        load_encoder(f"{base}/{name}", sha256=wrong)
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_https_truncated_file_and_404_are_reported_and_nothing_is_kept(served_model, cache):
    base, state, name, digest = served_model
    with pytest.raises(ValueError, match=f"expected {digest}, got "):
        load_encoder(f"{base}/short.keras", sha256=digest)
    state.cut_short.add(name)  # the connection closes after half the file, once
    load_encoder(f"{base}/{name}", sha256=digest)  # the retry continues the part
    assert [h.get("Range") for h, _ in state.requests_for(name)][-1] is not None
    with pytest.raises(PresetUnavailableError, match=r"HTTP 404.*download it \(SHA-256"):
        load_encoder(f"{base}/missing.keras", sha256=digest)
    assert not [p for p in cache.rglob("*") if p.is_file() and p.name != name]


def test_https_without_a_hash_is_refused():
    with pytest.raises(ValueError, match="give the file's SHA-256"):
        load_encoder("https://127.0.0.1:9/model.keras")


def test_a_partial_download_is_resumed_with_a_range_request(served_model, cache):
    base, state, name, digest = served_model
    site_file = state.root / name
    part = cache / "downloads" / digest[:16] / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(site_file.read_bytes()[:3000])
    load_encoder(f"{base}/{name}", sha256=digest)
    (headers, status), = state.requests_for(name)
    assert headers.get("Range") == "bytes=3000-" and status == 206


# -- downloaded presets (ml4h's, and one served here) ---------------------------
def test_ml4h_presets_are_pinned_to_ml4h_lfs_pointers():
    ml4h = PRESETS["pclr-ml4h"]
    (weights,) = ml4h.files
    assert weights.sha256 == "50ca4fe3dd60c83d92eb4cd96cab4204e48193d6d42ee1704b758ab58675c9be"
    assert weights.size == 25_690_896
    assert weights.url.startswith("https://media.githubusercontent.com/media/broadinstitute/ml4h/")
    assert weights.url.endswith("/model_zoo/PCLR/PCLR.h5")
    lead_i = {Path(f.path).name: f for f in PRESETS["pclr-ml4h-lead-I"].files}
    assert lead_i["variables.data-00000-of-00001"].sha256.startswith("ed447ea195ee03ee")
    assert lead_i["variables.data-00000-of-00001"].size == 25_555_425
    lead_ii = {Path(f.path).name: f for f in PRESETS["pclr-ml4h-lead-II"].files}
    assert lead_ii["variables.data-00000-of-00001"].sha256.startswith("59347e3fb27c3fb9")
    assert {name for name in lead_i} == {"saved_model.pb", "variables.index",
                                         "variables.data-00000-of-00001"}
    assert (PRESETS["pclr-ml4h-lead-II"].variant, PRESETS["pclr-ml4h-lead-II"].input_shape) == (
        "lead_II", (2500, 1))


def test_ml4h_offline_says_what_to_download_and_where(cache, monkeypatch):
    monkeypatch.setenv("PCLR_OFFLINE", "1")
    with pytest.raises(PresetUnavailableError) as caught:
        load_encoder("pclr-ml4h")
    message = str(caught.value)
    (weights,) = PRESETS["pclr-ml4h"].files
    assert weights.url in message and weights.sha256 in message
    assert str(cache / "pclr-ml4h" / "PCLR.h5") in message


def test_ml4h_file_of_another_hash_in_the_cache_is_refused_and_deleted(cache, monkeypatch):
    monkeypatch.setenv("PCLR_OFFLINE", "1")
    placed = cache / "pclr-ml4h" / "PCLR.h5"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(MODEL_ZOO_H5.read_bytes())  # our weights, not ml4h's
    with pytest.raises(PresetUnavailableError,
                       match=f"had SHA-256 {sha256(MODEL_ZOO_H5)}, not 50ca4fe3"):
        load_encoder("pclr-ml4h")
    assert not placed.exists()


@pytest.fixture
def served_preset(small_encoder, tmp_path, serve, monkeypatch):
    """A downloaded preset like ml4h's, whose file is served on 127.0.0.1."""
    site = tmp_path / "preset_site"
    site.mkdir()
    small_encoder.save(site / "PCLR.h5")
    base, state = serve(site)
    file = site / "PCLR.h5"
    preset = dataclasses.replace(
        PRESETS["pclr-ml4h"], name="pclr-test",
        files=(PresetFile("PCLR.h5", f"{base}/PCLR.h5", sha256(file), file.stat().st_size),))
    monkeypatch.setitem(PRESETS, "pclr-test", preset)
    return preset, file, state


def test_a_downloaded_preset_is_fetched_once_and_then_loads_offline(
        served_preset, cache, small_encoder, monkeypatch):
    preset, file, state = served_preset
    batch = ecgs(small_encoder)
    expected = small_encoder.predict(batch, verbose=0)
    np.testing.assert_array_equal(load_encoder("pclr-test").predict(batch, verbose=0), expected)
    assert sha256(cache / "pclr-test" / "PCLR.h5") == preset.files[0].sha256
    monkeypatch.setenv("PCLR_OFFLINE", "1")
    np.testing.assert_array_equal(load_encoder("pclr-test").predict(batch, verbose=0), expected)
    assert len(state.requests) == 1


def test_a_file_placed_in_the_cache_by_hand_loads_without_network(
        served_preset, cache, small_encoder, monkeypatch):
    preset, file, state = served_preset
    monkeypatch.setenv("PCLR_OFFLINE", "1")
    with pytest.raises(PresetUnavailableError, match="pclr-test"):
        load_encoder("pclr-test")
    (cache / "pclr-test").mkdir(parents=True)
    (cache / "pclr-test" / "PCLR.h5").write_bytes(file.read_bytes())
    assert load_encoder("pclr-test").output.shape == small_encoder.output.shape
    assert state.requests == []


def test_a_server_giving_other_bytes_for_a_preset_keeps_nothing(served_preset, cache):
    preset, file, state = served_preset
    state.corrupt.add("PCLR.h5")
    with pytest.raises(ValueError, match=f"did not give the pinned file.*expected "
                                         f"{preset.files[0].sha256}"):
        load_encoder("pclr-test")
    assert not [p for p in cache.rglob("*") if p.is_file()]


# -- hf:// ----------------------------------------------------------------------
def test_hf_preset_loads_from_the_hugging_face_cache_offline(small_encoder, tmp_path):
    pytest.importorskip("huggingface_hub", reason="the [hub] extra is not installed")
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--ecg-lab--pclr-small"
    snapshot = save_preset(small_encoder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (repo / "refs" / "v1").write_text(commit)
    expected = small_encoder.predict(ecgs(small_encoder), verbose=0)
    np.save(tmp_path / "expected.npy", expected)
    script = (
        "import numpy as np, sys\n"
        "from pclr_keras.artifacts import load_encoder\n"
        "from pclr_keras.presets import PresetUnavailableError\n"
        f"x = np.random.default_rng(0).normal(size=(3, {small_encoder.input.shape[1]}, 12))"
        ".astype('float32')\n"
        "for spec in ('hf://ecg-lab/pclr-small', 'hf://ecg-lab/pclr-small@v1'):\n"
        "    got = load_encoder(spec).predict(x, verbose=0)\n"
        f"    np.testing.assert_array_equal(got, np.load({str(tmp_path / 'expected.npy')!r}))\n"
        "try:\n"
        "    load_encoder('hf://ecg-lab/absent')\n"
        "except PresetUnavailableError as error:\n"
        "    print('refused:', error)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub"),
               HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "refused: hf://ecg-lab/absent: not in the Hugging Face cache" in result.stdout
    assert snapshot.is_dir()


def test_hf_address_must_name_org_and_repository():
    with pytest.raises(ValueError, match="hf://org/name"):
        load_encoder("hf://just-a-name")


# -- the command line -------------------------------------------------------------
def test_pclr_presets_and_version(capsys):
    from pclr_keras import __version__

    assert pclr_main(["presets"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in PRESETS) and "(= pclr-ptbxl)" in table
    assert pclr_main(["presets", "pclr-ml4h"]) == 0
    details = capsys.readouterr().out
    assert "50ca4fe3dd60c83d92eb4cd96cab4204e48193d6d42ee1704b758ab58675c9be" in details
    assert "GPL-3.0" in details
    with pytest.raises(SystemExit) as caught:
        pclr_main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.strip() == f"pclr-keras {__version__}"
    setup_version = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1]
    assert setup_version == __version__
