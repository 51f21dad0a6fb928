"""Which metadata fields stay: modes checked, supplied fields kept, birth dates become ages."""

import pytest

from pclr_keras.deidentify.fields import age_from, deidentify, parse_date
from test_deidentify import KEY


def test_modes_are_checked():
    with pytest.raises(ValueError, match="one of"):
        deidentify({}, "anonymise")
    with pytest.raises(ValueError, match="needs a key"):
        deidentify({"patient_id": "1"}, "pseudonymize")


def test_supplied_fields_are_kept_as_given():
    meta = {"patient_id": "MRN-1", "mrn_field": "X-9", "age": "50", "acquisition_date": "2020-01-01"}
    assert deidentify(meta, supplied=("mrn_field",)) == {"mrn_field": "X-9", "age": "50"}
    assert deidentify(meta, "pseudonymize", key=KEY, supplied=("patient_id",))["patient_id"] \
        == "MRN-1"


@pytest.mark.parametrize("born, recorded, age", [
    ("07-08-1979", "04-29-2023", 43),          # GE MUSE, month first
    ("1976-01-01", "2008-12-23", 32),          # Philips
    ("19710123", "20130125105919", 42),        # DICOM DA and DT
    ("19530508", "20021122091000", 49),        # HL7 TS
    ("19530508", "20030508", 50),              # on the birthday
    ("19530509", "20030508", 49),              # the day before
    ("25-12-1960", "24.12.2000", 39),          # day first when the month cannot be 25
    ("1976-01-01", None, None), ("1976-01-01", "22:41:16", None),  # no date: no guess
    ("unknown", "2020-01-01", None), ("2021-01-01", "2020-01-01", None),
    ("1976-02-30", "2020-01-01", None), (1.4e9, "2020-01-01", None)])
def test_age_from(born, recorded, age):
    assert age_from(born, recorded) == age


def test_file_age_wins_over_birth_date():
    meta = {"age": "46", "date_of_birth": "19530508", "acquisition_time": "20021122091000"}
    assert deidentify(meta) == {"age": "46"}
    assert deidentify({"date_of_birth": "19530508", "acquisition_time": "22:41:16"}) == {}
    assert parse_date("20081223194446.000").isoformat() == "2008-12-23"
