"""One job's identifier policy: placeholder patient ids count as none in every mode."""

import pytest

from pclr_keras.deidentify import IdentifierPolicy, is_placeholder_patient_id

KEY = b"k3y-for-tests-0123456789abcdef-0123456789"
PLACEHOLDERS = ("", "   ", "x", "XXXXXXX", "xXx", "0", "00000000", "unknown", "UNKNOWN",
                "n/a", "N/A", "none", "None", " none ", None)
REAL = ("P-17", "x1", "0001", "100", "642341", "unknown-3", "nonexistent")


@pytest.mark.parametrize("value", PLACEHOLDERS)
def test_placeholders_are_no_patient_id(value):
    assert is_placeholder_patient_id(value)


@pytest.mark.parametrize("value", REAL)
def test_real_ids_are_patient_ids(value):
    assert not is_placeholder_patient_id(value)


@pytest.mark.parametrize("mode, key", [("keep", None), ("pseudonymize", KEY)])
def test_policy_gives_no_patient_id_for_a_placeholder(mode, key):
    policy = IdentifierPolicy(mode, key)
    for value in PLACEHOLDERS:
        assert policy.patient_id({"patient_id": value}) == ""
        assert policy.patient_id({}, supplied=value) == ""
    assert policy.patient_id({"patient_id": "P-17"}) != ""
    named = IdentifierPolicy(mode, key, patient_id_field="mrn")
    assert named.patient_id({"mrn": "XXXX"}) == "" and named.patient_id({"mrn": "M-1"}) == "M-1"
