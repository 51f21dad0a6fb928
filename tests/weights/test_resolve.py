"""Names, addresses and files -> local weights: presets, https:// and hf://, checked.

Downloads come from a server on 127.0.0.1 (`local_server.py`); the Hugging
Face test builds the Hub's cache layout and loads it with HF_HUB_OFFLINE=1;
ml4h's presets are tested offline and with files of another hash. No test
reaches the internet.
"""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from local_server import serve  # noqa: F401 (a fixture)
from pclr_keras.export.artifacts import save_preset
from pclr_keras.weights.load import load_encoder
from pclr_keras.weights.presets import ALIASES, PRESETS, WEIGHTS_DIR, PresetFile
from pclr_keras.weights.resolve import PresetUnavailableError, resolve_path, weights_sha256
from weights_fixtures import ecgs, sha256, small_encoder  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
MODEL_ZOO_H5 = ROOT / "model_zoo" / "PCLR" / "PCLR.h5"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PCLR_CACHE", str(folder))
    monkeypatch.delenv("PCLR_OFFLINE", raising=False)
    return folder


# -- files, folders and packaged presets ---------------------------------------
def test_a_path_is_itself_and_a_packaged_name_is_its_folder_with_the_pinned_digest(tmp_path):
    assert resolve_path(tmp_path) == tmp_path and resolve_path(str(MODEL_ZOO_H5)) == MODEL_ZOO_H5
    folder = resolve_path("pclr-ptbxl")
    assert folder == WEIGHTS_DIR / ALIASES["pclr-ptbxl"]
    digest = weights_sha256(folder)
    assert digest == sha256(folder / "model.weights.h5") == PRESETS[folder.name].sha256
    assert weights_sha256(MODEL_ZOO_H5) == sha256(MODEL_ZOO_H5)
    assert weights_sha256(tmp_path) is None  # a folder without model.weights.h5


def test_an_earlier_release_is_the_repositorys_folder_or_a_checked_copy_in_the_cache(
        cache, monkeypatch):
    from pclr_keras.weights import resolve
    archived = resolve_path("pclr-ptbxl-v0.3")
    assert archived == ROOT / "model_zoo" / "PCLR" / "presets" / "pclr-ptbxl-v0.3"
    assert sha256(archived / "model.weights.h5") == PRESETS["pclr-ptbxl-v0.3"].sha256
    # Installed from a wheel: no repository beside the package.
    monkeypatch.setattr(resolve, "ARCHIVE_DIR", cache / "no-repository")
    with pytest.raises(PresetUnavailableError) as caught:
        resolve_path("pclr-ptbxl-v0.3")
    message = str(caught.value)
    assert "model_zoo/PCLR/presets/pclr-ptbxl-v0.3/" in message
    assert str(cache / "pclr-ptbxl-v0.3") in message and PRESETS["pclr-ptbxl-v0.3"].sha256 in message
    copy = cache / "pclr-ptbxl-v0.3"
    copy.mkdir(parents=True)
    for item in archived.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    assert resolve_path("pclr-ptbxl-v0.3") == copy
    (copy / "model.weights.h5").write_bytes(b"not the release")
    with pytest.raises(ValueError, match=r"model.weights.h5 has SHA-256 .* not the pinned"):
        resolve_path("pclr-ptbxl-v0.3")


def test_an_unknown_name_lists_the_presets_and_the_closest_one():
    with pytest.raises(FileNotFoundError) as caught:
        load_encoder("pclr-ptbx")
    message = str(caught.value)
    assert "Did you mean 'pclr-ptbxl'" in message
    assert all(name in message for name in PRESETS)
    with pytest.raises(FileNotFoundError, match="(?s)Presets:\n.*pclr-ml4h"):
        load_encoder("pclr-nope")


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
        "from pclr_keras.weights.load import load_encoder\n"
        "from pclr_keras.weights.resolve import PresetUnavailableError\n"
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
