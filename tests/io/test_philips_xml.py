"""Philips (Sierra) XML reader: real 1.03 / 1.04 files (XLI, UTF-16), generated files."""

import numpy as np
import pytest

from clinical_files import BILLION_LAUGHS_DTD, TWELVE, known_counts, write_philips_xml
from conftest import require_shared
from pclr_keras.io import iter_records
from pclr_keras.io.philips_xml import read_philips_xml
from pclr_keras.io.record import ECGReadError

SAMPLES = ("philips_xml/129DYPRG.XML", "philips_xml/ad4d3d80-d165_1-04_orig.xml")


@pytest.fixture(params=SAMPLES, ids=["1.03-utf8", "1.04-utf16"])
def sample(request):
    return require_shared(f"data/clinical/{request.param}")


def test_real_files_decode_to_the_librarys_values_times_the_stated_resolution(sample):
    import sierraecg

    record = read_philips_xml(sample)
    assert record.lead_names == list(TWELVE)
    assert record.signal.shape == (5500, 12) and record.fs == 500.0
    assert record.meta["extra_channels"] == 4  # 16 XLI chunks: 4 calibration channels
    reference = {lead.label: lead.samples.astype(float) for lead in sierraecg.read_file(str(sample)).leads}
    for k, name in enumerate(TWELVE):  # both files state 5 uV per count
        np.testing.assert_allclose(record.signal[:, k], reference[name] * 0.005, atol=1e-12)


def test_real_files_obey_einthoven_and_carry_a_1mv_calibration_pulse(sample):
    record = read_philips_xml(sample)
    lead = dict(zip(record.lead_names, record.signal[:5000].T))  # the 10 s of ECG
    # Rebuilt III agrees with II - I within the stored residual (a few counts).
    assert np.abs(lead["I"] + lead["III"] - lead["II"]).max() <= 0.010 + 1e-9
    assert np.abs(lead["aVR"] + lead["aVL"] + lead["aVF"]).max() <= 0.015 + 1e-9
    assert np.ptp(lead["II"]) > 0.3  # an ECG, not counts read as mV
    tail = record.signal[-150:]  # after the ECG: 0 or the pulse, 200 counts x 5 uV
    assert set(np.round(tail, 9).ravel()) == {0.0, 1.0}


def test_real_file_metadata_and_median_beats():
    record = read_philips_xml(require_shared("data/clinical/" + SAMPLES[1]), median_beats=True)
    assert record.meta["patient_id"] == "9999" and record.meta["sex"] == "Female"
    assert record.meta["format"] == "PhilipsECG 1.04"
    assert record.meta["acquisition_date"] == "2008-12-23"
    assert "SINUS BRADYCARDIA" in record.meta["dx"]
    beats = record.meta["median_beats"]
    assert beats.signal.shape == (1200, 12) and beats.fs == 500.0
    assert record.signal.shape[0] == 5500  # the rhythm stays the record
    assert "median_beats" not in read_philips_xml(require_shared(
        "data/clinical/" + SAMPLES[1])).meta


def test_philips_and_its_own_aecg_export_hold_the_same_ecg():
    original = read_philips_xml(require_shared("data/clinical/" + SAMPLES[1]))
    converted = next(iter_records(require_shared(
        "data/clinical/hl7_aecg/ad4d3d80-d165_1-04_converted.xml")))
    assert converted.lead_names == original.lead_names
    assert converted.signal.shape == original.signal.shape
    assert np.abs(converted.signal - original.signal).max() <= 0.020 + 1e-9  # 4 counts


@pytest.mark.parametrize("encoding", ["Base64", "Plain"])
def test_uncompressed_file_keeps_its_values(tmp_path, encoding):
    counts = known_counts(5000)
    path = write_philips_xml(tmp_path / "ecg.xml", counts, resolution=2.5, encoding=encoding)
    record = next(iter_records(path))  # picked by its root element, not its suffix
    assert record.lead_names == list(TWELVE)
    for k, name in enumerate(TWELVE):  # no residual rebuild without XLI
        np.testing.assert_allclose(record.signal[:, k], counts[name] * 0.0025)
    assert record.meta["patient_id"] == "P-17" and record.meta["age"] == "61"
    assert record.meta["extra_channels"] == 0


def test_unsupported_version_and_truncated_data_are_named(tmp_path):
    counts = known_counts(5000)
    with pytest.raises(ECGReadError, match="version 2.0 is not supported"):
        read_philips_xml(write_philips_xml(tmp_path / "v.xml", counts, version="2.0"))
    path = write_philips_xml(tmp_path / "t.xml", {k: v[:4999] for k, v in counts.items()})
    text = path.read_text().replace('durationperchannel="9998"', 'durationperchannel="10000"')
    path.write_text(text)
    with pytest.raises(ECGReadError, match="not a whole number of channels"):
        read_philips_xml(path)


def test_entity_bomb_is_refused(tmp_path):
    path = write_philips_xml(tmp_path / "bomb.xml", known_counts(5000), patient_id="&lol3;",
                             doctype=BILLION_LAUGHS_DTD.format(root="restingecgdata"))
    with pytest.raises(ECGReadError, match="refused: .*entit") as caught:
        next(iter_records(path))
    assert "lollol" not in str(caught.value)
