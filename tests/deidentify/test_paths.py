"""Which paths spell what a file says of its patient, and the id that replaces them."""

import pytest

from pclr_keras.deidentify.paths import content_id, identifiers_in_path

META = {"patient_id": "1234567", "patient_name": "SMITH^JOHN", "date_of_birth": "1961-07-30",
        "acquisition_date": "2023-04-12", "acquisition_time": "09:30:15", "sex": "Male"}


@pytest.mark.parametrize("path, found", [
    ("1234567_SMITH_20230412.xml", ["acquisition_date", "patient_id", "patient_name"]),
    ("exports/smith_john.xml", ["patient_name"]),
    ("ward/ecg_2023-04-12.xml", ["acquisition_date"]),
    ("ward/12042023.xml", ["acquisition_date"]),  # day first
    ("ward/04122023.xml", ["acquisition_date"]),  # month first
    ("ward/12.04.2023.xml", ["acquisition_date"]),
    ("ward/ecg_20230412093015.xml", ["acquisition_date", "acquisition_time"]),
    ("ward/ecg_093015.xml", ["acquisition_time"]),
    ("born_19610730/ecg.xml", ["date_of_birth"]),
    ("ward/p1234567.xml", ["patient_id"]),  # letters around digits: still the id
    ("ward/91234567.xml", []),  # the id inside a longer number is no match
    ("ward/12345678_blacksmith.xml", []),  # nor a name inside a longer word
    ("records100/00000/00001_lr", []),  # PhysioNet's names carry nothing of the patient
])
def test_the_fields_a_path_spells(path, found):
    assert identifiers_in_path(path, META) == found


def test_a_public_sets_record_ids_are_kept():
    assert identifiers_in_path("sph/SPH00001.h5", {"ecg_id": "SPH00001"}) == []
    uid = {"ecg_id": "1.3.6.1.4.1.20029.40.20130125105919.5407",
           "acquisition_time": "20130125105919"}
    assert identifiers_in_path("1.3.6.1.4.1.20029.40.20130125105919.5407.dcm", uid) == [
        "acquisition_time"]  # a UID that embeds the time is found by the time


def test_placeholders_and_short_values_are_no_identifier():
    meta = {"patient_id": "xxxxxx", "ecg_id": "12", "patient_name": "X"}
    assert identifiers_in_path("xxxxxx_12_x.xml", meta) == []
    assert identifiers_in_path("unknown/0000.xml", {"patient_id": "unknown"}) == []
    assert identifiers_in_path("a/b.xml", {}) == []


def test_the_dicom_and_hl7_spellings_of_a_date_and_time():
    meta = {"acquisition_time": "20130125105919", "date_of_birth": "19710123"}
    assert identifiers_in_path("642341/20130125_105919.dcm", meta) == ["acquisition_time"]
    assert identifiers_in_path("x/23011971.dcm", meta) == ["date_of_birth"]


def test_the_content_id_is_the_digest_of_the_bytes(tmp_path):
    import hashlib

    one, same, other = tmp_path / "a.xml", tmp_path / "b.xml", tmp_path / "c.xml"
    one.write_bytes(b"<ecg>1</ecg>")
    same.write_bytes(b"<ecg>1</ecg>")
    other.write_bytes(b"<ecg>2</ecg>")
    assert content_id(one) == "file-" + hashlib.sha256(b"<ecg>1</ecg>").hexdigest()[:20]
    assert content_id(one) == content_id(same) != content_id(other)
    assert content_id(one, "exam_id=5") == "file-" + hashlib.sha256(
        b"<ecg>1</ecg>#exam_id=5").hexdigest()[:20]
