"""DICOM ECG waveform reader: pydicom's sample file, and files written here with pydicom."""

import numpy as np
import pytest

from clinical_files import TWELVE, known_counts
from conftest import require_shared
from pclr_keras.io import find_ecg_files, iter_records
from pclr_keras.io.dicom_waveform import read_dicom_waveform
from pclr_keras.io.record import ECGReadError

pydicom = pytest.importorskip("pydicom")
SCPECG = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8,
          "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}


def _group(counts, label, fs, sensitivity, unit, correction=1.0, baseline=0.0):
    from pydicom.dataset import Dataset

    names = list(counts)
    group = Dataset()
    group.MultiplexGroupLabel = label
    group.WaveformOriginality = "ORIGINAL" if label == "RHYTHM" else "DERIVED"
    group.NumberOfWaveformChannels = len(names)
    group.NumberOfWaveformSamples = len(counts[names[0]])
    group.SamplingFrequency = fs
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    channels = []
    for name in names:
        source, units, channel = Dataset(), Dataset(), Dataset()
        source.CodeValue = f"5.6.3-9-{SCPECG[name]}"
        source.CodingSchemeDesignator = "SCPECG"
        source.CodeMeaning = f"Lead {name}"
        units.CodeValue, units.CodingSchemeDesignator = unit, "UCUM"
        channel.ChannelSourceSequence = [source]
        channel.ChannelSensitivity = sensitivity
        channel.ChannelSensitivityUnitsSequence = [units]
        channel.ChannelSensitivityCorrectionFactor = correction
        channel.ChannelBaseline = baseline
        channel.WaveformBitsStored = 16
        channels.append(channel)
    group.ChannelDefinitionSequence = channels
    group.WaveformData = np.stack([counts[n] for n in names], axis=1).astype("<i2").tobytes()
    return group


def write_dicom_ecg(path, groups, patient_id="D-5"):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.2"  # General ECG
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.PatientSex = "ECG", patient_id, "M"
    ds.WaveformSequence = groups
    try:
        ds.save_as(path, enforce_file_format=True)  # pydicom 3
    except TypeError:
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.save_as(path, write_like_original=False)  # pydicom 2
    return path


def test_real_file_is_raw_times_channel_sensitivity():
    from pydicom.waveforms.numpy_handler import multiplex_array

    path = require_shared("data/clinical/dicom/waveform_ecg.dcm")
    record = next(iter_records(path))
    assert record.signal.shape == (10000, 12) and record.fs == 1000.0  # rhythm, not median
    assert record.lead_names == list(TWELVE)
    ds = pydicom.dcmread(path)
    raw = multiplex_array(ds, 0, as_raw=True)
    channels = ds.WaveformSequence[0].ChannelDefinitionSequence
    stated = [c.ChannelSourceSequence[0].CodeMeaning.split()[1] for c in channels]
    for k, channel in enumerate(channels):
        assert channel.ChannelSensitivityUnitsSequence[0].CodeValue == "uV"
        expected = raw[:, k] * float(channel.ChannelSensitivity) / 1000.0  # 1.25 uV
        np.testing.assert_allclose(record.signal[:, record.lead_names.index(stated[k])], expected)
    lead = dict(zip(record.lead_names, record.signal.T))
    assert np.abs(lead["I"] + lead["III"] - lead["II"]).max() < 0.005
    assert record.meta["patient_id"] == "642341" and record.meta["sop_class"] == "12-lead ECG"
    beats = read_dicom_waveform(path, median_beats=True).meta["median_beats"]
    assert beats.signal.shape == (1200, 12)


def test_microvolts_with_correction_baseline_and_shuffled_channels(tmp_path):
    rhythm = known_counts(5000, names=("V2", "I", "aVF", "II", "V1", "III", "aVR", "aVL",
                                       "V3", "V6", "V4", "V5"))
    median = known_counts(600, seed=1)
    path = write_dicom_ecg(tmp_path / "ecg.dcm", [
        _group(median, "MEDIAN BEAT", 500, 2.5, "uV"),  # first: must not be taken for rhythm
        _group(rhythm, "RHYTHM", 500, 2.5, "uV", correction=0.9, baseline=-40.0)])
    record = read_dicom_waveform(path)
    assert record.lead_names == list(TWELVE) and record.signal.shape == (5000, 12)
    for k, name in enumerate(TWELVE):
        np.testing.assert_allclose(record.signal[:, k],
                                   (rhythm[name] * 2.5 * 0.9 - 40.0) / 1000.0)
    assert record.meta["patient_id"] == "D-5" and record.meta["waveform"] == "rhythm"


def test_millivolt_file_without_suffix_is_found_and_read(tmp_path):
    counts = known_counts(5000)
    write_dicom_ecg(tmp_path / "ECG0001", [_group(counts, "RHYTHM", 500, 0.005, "mV")])
    (tmp_path / "README").write_text("not an ECG")
    assert find_ecg_files([tmp_path]) == [tmp_path / "ECG0001"]
    record = next(iter_records(tmp_path / "ECG0001"))
    np.testing.assert_allclose(record.signal[:, 0], counts["I"] * 0.005)


def test_missing_sensitivity_unknown_unit_and_non_dicom_are_named(tmp_path):
    counts = known_counts(5000, names=("I", "II"))
    group = _group(counts, "RHYTHM", 500, 2.5, "uV")
    del group.ChannelDefinitionSequence[1].ChannelSensitivity
    with pytest.raises(ECGReadError, match=r"channel 2 \(II\) has no ChannelSensitivity"):
        read_dicom_waveform(write_dicom_ecg(tmp_path / "a.dcm", [group]))
    with pytest.raises(ECGReadError, match="unknown sensitivity unit 'mmHg'"):
        read_dicom_waveform(write_dicom_ecg(tmp_path / "b.dcm",
                                            [_group(counts, "RHYTHM", 500, 1, "mmHg")]))
    (tmp_path / "c.dcm").write_bytes(b"\0" * 300)
    with pytest.raises(ECGReadError, match="not a readable DICOM file"):
        next(iter_records(tmp_path / "c.dcm"))


@pytest.mark.parametrize("written, years", [("055Y", 55.0), ("018M", 1.5),
                                            ("010W", 70 / 365.25), ("003D", 3 / 365.25),
                                            ("noon", None)])
def test_age_strings_are_read_as_years(tmp_path, written, years):
    path = write_dicom_ecg(tmp_path / "aged.dcm", [_group(
        known_counts(5000), "RHYTHM", 500, 5.0, "uV")])
    ds = pydicom.dcmread(path)
    ds.PatientAge = written
    ds.save_as(path)
    meta = read_dicom_waveform(path).meta
    if years is None:  # unreadable: no age rather than a guess
        assert "age" not in meta
    else:
        assert meta["age"] == pytest.approx(years) and isinstance(meta["age"], float)
    real = read_dicom_waveform(require_shared("data/clinical/dicom/waveform_ecg.dcm"))
    assert real.meta["age"] == 42.0  # written 042Y
