"""Files named as outputs name them: relative to the data root, never absolute."""

import pytest

from pclr_keras.deidentify.naming import relative_ecg_id, without_root


def test_relative_ecg_ids(tmp_path):
    (tmp_path / "ward7").mkdir()
    nested = tmp_path / "ward7" / "Doe_John_0001.xml"
    assert relative_ecg_id(nested, tmp_path) == "ward7/Doe_John_0001"
    assert relative_ecg_id(f"{tmp_path}/codes.h5#exam_id=5", tmp_path) == "codes#exam_id=5"
    assert relative_ecg_id(tmp_path / "ward7" / "rec", tmp_path) == "ward7/rec"  # WFDB name
    assert relative_ecg_id(nested, nested) == "Doe_John_0001"  # a file given directly
    assert relative_ecg_id(nested) == "Doe_John_0001"
    assert relative_ecg_id("ward7/../ward7/x.dcm", ".") == "ward7/x"  # relative paths too
    with pytest.raises(ValueError, match="not under the data root"):
        relative_ecg_id("/elsewhere/a.xml", tmp_path)


def test_relative_ids_from_a_relative_root(tmp_path, monkeypatch):
    (tmp_path / "data" / "a").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert relative_ecg_id(tmp_path / "data" / "a" / "1.xml", "data") == "a/1"
    assert relative_ecg_id("data/a/1.xml", tmp_path / "data") == "a/1"


def test_error_messages_lose_the_root(tmp_path):
    (tmp_path / "ward7").mkdir()
    message = f"{tmp_path}/ward7/ecg1.xml: lead V1 has no WaveFormData"
    assert without_root(message, tmp_path) == "ward7/ecg1.xml: lead V1 has no WaveFormData"
    single = tmp_path / "ward7" / "ecg1.xml"
    assert without_root(message, single) == "ecg1.xml: lead V1 has no WaveFormData"
