"""The WFDB reader on real PTB-XL / LUDB records and on written edge cases."""

import numpy as np
import pytest
import scipy.io

from conftest import require_shared
from ecg_files import ecg_like, write_wfdb
from pclr_keras.io import ECGReadError, iter_records, read_wfdb
from pclr_keras.preprocess import preprocess_ecg


def header_checksums(hea):
    lines = hea.read_text().splitlines()
    count = int(lines[0].split()[1])
    return [int(line.split()[6]) for line in lines[1: 1 + count]]


def header_gains(hea):
    lines = hea.read_text().splitlines()
    count = int(lines[0].split()[1])
    fields = [line.split()[2] for line in lines[1: 1 + count]]
    return [(float(f.split("(")[0].split("/")[0]), int(f.split("(")[1].split(")")[0]) if "(" in f else 0)
            for f in fields]


@pytest.mark.parametrize("relative", [
    "ptbxl/records100/00000/00001_lr", "ptbxl/records100/01000/01004_lr",
    "ptbxl/records500/00000/00042_hr", "ludb/data/7", "ludb/data/200"])
def test_real_records_match_header_checksums(relative):
    """Back to digital units, every lead sums to the checksum in its header."""
    path = require_shared("data") / relative
    record = read_wfdb(path)
    for lead, (checksum, (gain, baseline)) in enumerate(
            zip(header_checksums(path.with_suffix(".hea")), header_gains(path.with_suffix(".hea")))):
        digital = np.round(record.signal[:, lead] * gain + baseline).astype(np.int64)
        assert digital.sum() % 65536 == checksum % 65536
    assert record.signal.shape == (int(record.fs * 10), 12)


def test_ptbxl_metadata_agrees():
    data = require_shared("data")
    record = read_wfdb(data / "ptbxl/records500/00000/00001_hr")
    assert (record.fs, record.lead_names[3]) == (500.0, "AVR")
    ludb = read_wfdb(data / "ludb/data/1")
    assert ludb.meta["age"] == "51" and ludb.meta["sex"] == "F"
    assert ludb.lead_names[:4] == ["i", "ii", "iii", "avr"]


def test_challenge_mat_record_with_header_fields(tmp_path):
    """PhysioNet/CinC layout: `.hea` + MATLAB v4 `.mat` (byte offset 16+24), #Age/#Sex/#Dx."""
    digital = (ecg_like(seed=1).T * 1000).astype(np.int16)
    scipy.io.savemat(tmp_path / "A0001.mat", {"val": digital}, format="4")
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    lines = ["A0001 12 500 5000"] + [
        f"A0001.mat 16+24 1000/mV 16 0 {digital[i, 0]} 0 0 {name}" for i, name in enumerate(names)]
    lines += ["#Age: 74", "#Sex: Male", "#Dx: 59118001,164889003", "#Rx: Unknown"]
    (tmp_path / "A0001.hea").write_text("\n".join(lines) + "\n")
    record = read_wfdb(tmp_path / "A0001.hea")
    np.testing.assert_allclose(record.signal, digital.T / 1000)
    assert record.meta["age"] == "74" and record.meta["sex"] == "Male"
    assert record.meta["dx"] == "59118001,164889003"


def test_microvolt_units_are_converted(tmp_path):
    signal = ecg_like(seed=2)
    hea = write_wfdb(tmp_path, "uv", signal * 1000, units="uV")
    np.testing.assert_allclose(read_wfdb(hea).signal, signal, atol=1e-3)


def test_fifteen_channels_keep_the_standard_twelve(tmp_path):
    signal = ecg_like(fs=1000.0, leads=15, seed=3)
    names = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6",
             "vx", "vy", "vz"]
    hea = write_wfdb(tmp_path, "s0010_re", signal, fs=1000.0, lead_names=names)
    record = read_wfdb(hea)
    assert record.lead_names == names
    ecg = preprocess_ecg(record.signal, record.fs, record.lead_names)
    assert ecg.shape == (4096, 12)
    np.testing.assert_allclose(
        ecg[:, 6], np.interp(np.linspace(0, 1, 4096), np.linspace(0, 1, 10000), signal[:, 6]),
        atol=2e-3)


@pytest.mark.parametrize("damage,reason", [
    (lambda hea: hea.with_suffix(".dat").unlink(), "unreadable WFDB record"),
    (lambda hea: hea.write_text("not a header\n"), "unreadable WFDB record"),
    (lambda hea: hea.write_text(hea.read_text().replace("/mV", "/mmHg")), "not a voltage"),
])
def test_bad_records_raise_one_clear_error(tmp_path, damage, reason):
    hea = write_wfdb(tmp_path, "bad", ecg_like(seed=4))
    damage(hea)
    with pytest.raises(ECGReadError, match=reason) as excinfo:
        read_wfdb(hea)
    assert "bad" in str(excinfo.value)


def test_iter_records_finds_record_without_suffix_and_refuses_unknown(tmp_path):
    write_wfdb(tmp_path, "rec", ecg_like(seed=5))
    assert [r.source for r in iter_records(tmp_path / "rec")] == [str(tmp_path / "rec")]
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ECGReadError, match="unknown ECG file type"):
        list(iter_records(tmp_path / "notes.txt"))
    with pytest.raises(ECGReadError, match="no such file"):
        list(iter_records(tmp_path / "missing.h5"))


@pytest.mark.parametrize("relative", [
    "ptbxl/records100/00000/00001_lr", "ptbxl/records500/00000/00042_hr", "ludb/data/7"])
def test_format16_fast_path_equals_wfdb(relative, monkeypatch):
    """Header and samples read without wfdb give what wfdb.rdrecord gives."""
    import wfdb

    from pclr_keras.io import wfdb_records

    path = require_shared("data") / relative
    reference = wfdb.rdrecord(str(path))
    calls = []
    monkeypatch.setattr(wfdb_records.wfdb, "rdrecord", lambda *a: calls.append(a))
    record = read_wfdb(path)
    assert calls == []  # the fast path read it
    np.testing.assert_array_equal(record.signal, reference.p_signal)
    assert record.lead_names == reference.sig_name and record.fs == reference.fs
    assert record.meta == wfdb_records._header_fields(reference.comments)


def test_format16_fast_path_edge_cases(tmp_path):
    signal = ecg_like(seed=6)
    signal[100, 3] = np.nan  # written as WFDB's invalid sample, -32768
    hea = write_wfdb(tmp_path, "gap", signal, comments=["Age: 61", "Sex: F"])
    record = read_wfdb(hea)
    assert np.isnan(record.signal[100, 3]) and np.isfinite(record.signal[101, 3])
    np.testing.assert_allclose(record.signal[:100], signal[:100], atol=1e-3)
    assert record.meta == {"age": "61", "sex": "F"}
    dat = hea.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:2000])
    with pytest.raises(ECGReadError, match=r"gap: unreadable WFDB record .*truncated"):
        read_wfdb(hea)
