"""HL7 aECG reader: the HL7 example and Philips' export, generated files."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from clinical_files import BILLION_LAUGHS_DTD, TWELVE, known_counts, write_aecg
from conftest import require_shared
from pclr_keras.io import iter_records
from pclr_keras.io.hl7_aecg import read_hl7_aecg
from pclr_keras.io.record import ECGReadError

NS = {"h": "urn:hl7-org:v3"}


def _stated_rhythm(path):
    """lead code -> (digits, origin, scale) of the first RHYTHM series, by plain ElementTree."""
    root = ET.parse(path).getroot()  # the repository's own test file: trusted
    series = [s for s in root.iter("{urn:hl7-org:v3}series")
              if s.find("h:code", NS).get("code") == "RHYTHM"][0]
    out = {}
    for seq in series.find("h:component/h:sequenceSet", NS).iterfind("h:component/h:sequence", NS):
        code = seq.find("h:code", NS).get("code")
        if code.startswith("MDC_ECG_LEAD_"):
            value = seq.find("h:value", NS)
            out[code[13:]] = (np.array(value.find("h:digits", NS).text.split(), float),
                              float(value.find("h:origin", NS).get("value")),
                              float(value.find("h:scale", NS).get("value")))
    return out


@pytest.mark.parametrize("name", ["Example_aECG.xml", "ad4d3d80-d165_1-04_converted.xml"])
def test_real_files_hold_origin_plus_scale_times_digits(name):
    path = require_shared(f"data/clinical/hl7_aecg/{name}")
    record = read_hl7_aecg(path)
    stated = _stated_rhythm(path)
    assert record.lead_names == list(TWELVE) and len(stated) == 12  # any order in the file
    assert record.fs == 500.0
    for k, lead in enumerate(record.lead_names):
        digits, origin, scale = stated[lead.upper()]
        np.testing.assert_allclose(record.signal[:, k], (origin + scale * digits) / 1000.0)
    lead = dict(zip(record.lead_names, record.signal[:5000].T))
    assert np.abs(lead["I"] + lead["III"] - lead["II"]).max() <= 0.035  # a few counts


def test_hl7_example_rhythm_not_median_and_metadata():
    path = require_shared("data/clinical/hl7_aecg/Example_aECG.xml")
    record = read_hl7_aecg(path, median_beats=True)
    assert record.signal.shape == (5000, 12)
    assert record.meta["median_beats"].signal.shape == (599, 12)
    assert record.meta["patient_id"] == "SBJ-123" and record.meta["sex"] == "M"
    assert record.meta["age"] == "46" and record.meta["device"] == "ELI250"
    assert record.meta["stored_leads"][:3] == ["I", "II", "V1"]


def test_shuffled_leads_mv_units_origin_and_derived_limb_leads(tmp_path):
    counts = known_counts(5000, names=("V3", "II", "V1", "V6", "I", "V2", "V5", "V4"))
    path = write_aecg(tmp_path / "a.xml", counts, scale=(0.004, "mV"), origin=(-12, "uV"),
                      increment=(2, "ms"))
    record = next(iter_records(path))
    assert record.lead_names == list(TWELVE) and record.fs == 500.0
    lead = dict(zip(record.lead_names, record.signal.T))
    for name, values in counts.items():
        np.testing.assert_allclose(lead[name], -0.012 + 0.004 * values.astype(float))
    np.testing.assert_allclose(lead["III"], lead["II"] - lead["I"])
    np.testing.assert_allclose(lead["aVR"], -(lead["I"] + lead["II"]) / 2)
    assert record.meta["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    assert record.meta["patient_id"] == "S-9"
    assert read_hl7_aecg(path, median_beats=True).meta["median_beats"].signal.shape == (400, 12)


@pytest.mark.parametrize("edit, message", [
    (("unit=\"uV\"/><digits>", "unit=\"furlong\"/><digits>"), "unknown unit 'furlong'"),
    (('code="RHYTHM"', 'code="OTHER"'), "no RHYTHM series"),
    (("</AnnotatedECG>", ""), "not well-formed XML"),
])
def test_bad_files_are_named(tmp_path, edit, message):
    path = write_aecg(tmp_path / "a.xml", known_counts(5000, names=("I", "II")))
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(ECGReadError, match=message):
        next(iter_records(path))


def test_entity_bomb_is_refused(tmp_path):
    path = write_aecg(tmp_path / "bomb.xml", known_counts(5000, names=("I", "II")),
                      subject="&lol3;", doctype=BILLION_LAUGHS_DTD.format(root="AnnotatedECG"))
    with pytest.raises(ECGReadError, match="refused: .*entit"):
        read_hl7_aecg(path)
