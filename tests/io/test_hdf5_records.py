"""HDF5 readers: the real SPH files, and CODE and ml4h files written here."""

import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import require_shared

from pclr_keras.io.hdf5_records import STANDARD_LEADS, iter_hdf5
from pclr_keras.io.record import ECGReadError


def _sine(n, lead):
    return np.sin(np.linspace(0, 20, n) + lead)


# --- SPH (real files) ---------------------------------------------------------

def test_sph_real_files_match_an_independent_read():
    folder = require_shared("data/sph")
    lengths = pd.read_csv(folder / "metadata.csv").set_index("ECG_ID")["N"]
    files = sorted(folder.glob("SPH*.h5"))
    assert len(files) == 10
    for path in files:
        (record,) = iter_hdf5(path)
        with h5py.File(path, "r") as file:
            expected = file["ecg"][()].T.astype(float)
        assert record.signal.shape == expected.shape
        assert record.signal.shape[1] == 12
        if path.name in lengths.index:  # metadata.csv lists 9 of the 10
            assert record.signal.shape[0] == lengths[path.name]
        np.testing.assert_array_equal(record.signal, expected)
        assert record.fs == 500.0
        assert record.lead_names == list(STANDARD_LEADS)
        assert record.meta["ecg_id"] == path.stem
        assert record.source == str(path)
        assert 0.5 < np.abs(record.signal).max() < 10  # mV, not uV


def test_sph_limb_leads_follow_einthoven_in_the_default_order():
    (record,) = iter_hdf5(require_shared("data/sph") / "SPH00001.h5")
    lead_i, lead_ii, lead_iii, lead_avr = record.signal[:, :4].astype(float).T
    np.testing.assert_allclose(lead_iii, lead_ii - lead_i, atol=0.02)
    np.testing.assert_allclose(lead_avr, -(lead_i + lead_ii) / 2, atol=0.02)


def test_sph_arguments_and_wrong_shape(tmp_path):
    path = tmp_path / "sph.h5"
    with h5py.File(path, "w") as file:
        file["ecg"] = np.full((12, 100), 1500, dtype=np.int16)
    (record,) = iter_hdf5(path, fs=250, units="uV")
    assert record.fs == 250.0 and record.signal.shape == (100, 12)
    np.testing.assert_allclose(record.signal, 1.5)
    with h5py.File(path, "w") as file:
        file["ecg"] = np.zeros((100, 12), dtype=np.float16)
    with pytest.raises(ECGReadError, match=r"sph\.h5.*\(100, 12\).*leads first"):
        list(iter_hdf5(path))


# --- CODE ---------------------------------------------------------------------

def _code_file(path, with_exam_id=True):
    """3 exams (10 s, 7 s, 10 s) zero-padded to 4096 as in CODE-15%, plus its padding row."""
    tracings = np.zeros((4, 4096, 12), dtype=np.float32)
    for row, (samples, offset) in enumerate([(4000, 48), (2800, 648), (4000, 48)]):
        tracings[row, offset:offset + samples] = np.stack(
            [_sine(samples, lead) + 0.1 * row for lead in range(12)], axis=1)
    with h5py.File(path, "w") as file:
        file["tracings"] = tracings
        if with_exam_id:
            file["exam_id"] = np.array([1169160, 2873686, 271011, 0], dtype=np.int64)
    return tracings


def test_code_strips_padding_keeps_mv_and_skips_the_padding_row(tmp_path):
    path = tmp_path / "exams_part0.hdf5"
    tracings = _code_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the exam_id-0 padding row is skipped silently
        records = list(iter_hdf5(path))
    assert [len(r.signal) for r in records] == [4000, 2800, 4000]
    exam_ids = [1169160, 2873686, 271011]
    assert [r.meta["ecg_id"] for r in records] == exam_ids
    assert [r.source for r in records] == [f"{path}#exam_id={i}" for i in exam_ids]
    np.testing.assert_array_equal(records[1].signal, tracings[1, 648:648 + 2800])
    assert records[1].duration_s == pytest.approx(7.0)
    assert all(r.fs == 400.0 and r.lead_names == list(STANDARD_LEADS) for r in records)


def test_code_test_set_without_exam_id_and_zero_rows(tmp_path):
    path = tmp_path / "ecg_tracings.hdf5"
    _code_file(path, with_exam_id=False)
    with pytest.warns(UserWarning, match=r"#row=3: skipped, every sample is zero"):
        records = list(iter_hdf5(path))
    assert [r.source for r in records] == [f"{path}#row={i}" for i in range(3)]
    assert records[0].meta == {}


def test_code_shape_errors(tmp_path):
    path = tmp_path / "code.hdf5"
    with h5py.File(path, "w") as file:
        file["tracings"] = np.zeros((2, 4096, 8), dtype=np.float32)
    with pytest.raises(ECGReadError, match=r"code\.hdf5.*\(2, 4096, 8\).*expected"):
        list(iter_hdf5(path))
    with h5py.File(path, "w") as file:
        file["tracings"] = np.ones((2, 4096, 12), dtype=np.float32)
        file["exam_id"] = np.arange(3)
    with pytest.raises(ECGReadError, match="3 exam_id values for 2 tracings"):
        list(iter_hdf5(path))


# --- ml4h ---------------------------------------------------------------------

def _ukb_file(path, instances=2, leads=STANDARD_LEADS):
    """A UKB-style per-patient file as ml4h's tensor_writer_ukbb writes it (values in uV)."""
    with h5py.File(path, "w") as file:
        for instance in range(instances):
            for lead in leads:
                name = f"ukb_ecg_rest/strip_{lead}/instance_{instance}"
                file[name] = 1000 * _sine(5000, instance + STANDARD_LEADS.index(lead))
                file[name].attrs["date"] = 1.4e9 + instance
                file[f"ukb_ecg_rest/median_{lead}/instance_{instance}"] = np.zeros(600)
            file[f"ukb_ecg_rest/ecg_rest_text/instance_{instance}"] = "Sinus rhythm"


def test_ml4h_ukb_per_patient_file(tmp_path):
    path = tmp_path / "1000037.hd5"
    _ukb_file(path)
    records = list(iter_hdf5(path))
    assert [r.meta["ecg_id"] for r in records] == ["instance_0", "instance_1"]
    assert [r.source for r in records] == [f"{path}#ukb_ecg_rest/instance_{i}" for i in (0, 1)]
    for instance, record in enumerate(records):
        assert record.lead_names == list(STANDARD_LEADS)
        assert record.fs == 500.0 and record.signal.shape == (5000, 12)
        assert record.meta["patient_id"] == "1000037"
        assert record.meta["date"] == 1.4e9 + instance
        np.testing.assert_allclose(record.signal[:, 3], _sine(5000, instance + 3))  # mV


def test_ml4h_missing_leads_still_give_a_record(tmp_path):
    path = tmp_path / "2.hd5"
    _ukb_file(path, instances=1, leads=("I", "II", "V1"))
    (record,) = iter_hdf5(path)
    assert record.lead_names == ["I", "II", "V1"] and record.signal.shape == (5000, 3)


def test_ml4h_group_per_ecg_with_attributes(tmp_path):
    path = tmp_path / "patient.hd5"
    with h5py.File(path, "w") as file:
        for date, units, scale in [("2019-05-02T10:31:00", "microvolts", 1000),
                                   ("2020-01-07T08:00:00", "mV", 1)]:
            ecg = file.create_group(f"partners_ecg_rest/{date}")
            ecg.attrs.update(units=units, fs=250, patient_id="MRN42")
            for i, lead in enumerate(("I", "II", "aVR")):
                ecg[lead] = (scale * _sine(2500, i)).astype(np.float32)
            ecg["read_md_clean"] = "normal sinus rhythm"
    records = list(iter_hdf5(path))
    assert [r.meta["ecg_id"] for r in records] == ["2019-05-02T10:31:00", "2020-01-07T08:00:00"]
    for record in records:
        assert record.fs == 250.0 and record.lead_names == ["I", "II", "aVR"]
        assert record.meta["patient_id"] == "MRN42"
        np.testing.assert_allclose(record.signal[:, 2], _sine(2500, 2), rtol=1e-6, atol=1e-6)
    assert records[0].source == f"{path}#partners_ecg_rest/2019-05-02T10:31:00"


def test_ml4h_rate_and_units_from_arguments_or_an_error(tmp_path):
    path = tmp_path / "one.hd5"
    with h5py.File(path, "w") as file:
        for i, lead in enumerate(STANDARD_LEADS):
            file[f"ecg/{lead}"] = _sine(1000, i)
    with pytest.warns(UserWarning), pytest.raises(ECGReadError, match=r"one\.hd5.*pass units="):
        list(iter_hdf5(path))
    with pytest.warns(UserWarning), pytest.raises(ECGReadError, match="pass fs="):
        list(iter_hdf5(path, units="mV"))
    (record,) = iter_hdf5(path, fs=100, units="V")
    assert record.fs == 100.0 and record.meta == {"ecg_id": "ecg", "patient_id": "one"}
    np.testing.assert_allclose(record.signal[:, 0], 1000 * _sine(1000, 0))


def test_ml4h_bad_ecg_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "mixed.hd5"
    _ukb_file(path, instances=2)
    with h5py.File(path, "a") as file:  # instance_1 of lead V6 cut short
        del file["ukb_ecg_rest/strip_V6/instance_1"]
        file["ukb_ecg_rest/strip_V6/instance_1"] = np.zeros(4000)
    with pytest.warns(UserWarning, match=r"instance_1.*differ in length.*V6 4000"):
        records = list(iter_hdf5(path))
    assert [r.meta["ecg_id"] for r in records] == ["instance_0"]


def test_ml4h_compressed_leads_say_what_to_do(tmp_path):
    path = tmp_path / "mgb.hd5"
    with h5py.File(path, "w") as file:
        lead = file.create_dataset("partners_ecg_rest/2019-05-02T10:31:00/I",
                                   data=np.void(b"\x28\xb5\x2f\xfd" + bytes(20)))
        lead.attrs["method"] = "zstd"
    with pytest.warns(UserWarning), pytest.raises(ECGReadError, match="zstd.*decompress"):
        list(iter_hdf5(path))


def test_group_argument(tmp_path):
    path = tmp_path / "g.hd5"
    _ukb_file(path, instances=1)
    assert len(list(iter_hdf5(path, group="ukb_ecg_rest"))) == 1
    with pytest.raises(ECGReadError, match="no group 'nope'"):
        list(iter_hdf5(path, group="nope"))


# --- whole-file problems --------------------------------------------------------

def test_file_with_no_known_layout_names_the_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file["images"] = np.zeros((2, 8, 8))
    with pytest.raises(ECGReadError, match=r"other\.h5: no ECG found.*'images'") as info:
        list(iter_hdf5(path))
    assert info.value.source == str(path)


def test_not_hdf5_or_truncated(tmp_path):
    noise = tmp_path / "noise.h5"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ECGReadError, match=r"noise\.h5: not a readable HDF5 file"):
        list(iter_hdf5(noise))
    whole, cut = tmp_path / "whole.hd5", tmp_path / "cut.hd5"
    _ukb_file(whole, instances=1)
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ECGReadError, match=r"cut\.hd5: not a readable HDF5 file.*truncated"):
        list(iter_hdf5(cut))
    with pytest.raises(ECGReadError, match="missing.h5"):
        list(iter_hdf5(tmp_path / "missing.h5"))


def test_unknown_layout_and_units(tmp_path):
    path = tmp_path / "sph.h5"
    with h5py.File(path, "w") as file:
        file["ecg"] = np.zeros((12, 10), dtype=np.float16)
    with pytest.raises(ValueError, match="layout"):
        list(iter_hdf5(path, layout="wfdb"))
    with pytest.raises(ECGReadError, match="unknown units 'furlongs'"):
        list(iter_hdf5(path, units="furlongs"))
    with pytest.raises(ECGReadError, match="expected a 3-D dataset 'tracings', found nothing"):
        list(iter_hdf5(path, layout="code"))
