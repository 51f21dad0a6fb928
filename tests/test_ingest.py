"""Ingest: files -> 10 s windows and error rows, named as the identifier policy allows."""

import os

import numpy as np
import pytest

from ecg_files import ecg_like, write_wfdb
from pclr_keras import ingest
from pclr_keras.deidentify import IdentifierPolicy, pseudonym
from pclr_keras.ingest import (
    ecg_starts, list_files, list_inputs, read_ecgs, record_windows, window_id, window_start_s)
from pclr_keras.io import read_wfdb

KEY = b"k3y-for-ingest-tests-0123456789abcdef"


def record_file(folder, name, signal, **kwargs):
    """A WFDB record written into `folder`, created if need be; its `.hea` path."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_wfdb(folder, name, signal, **kwargs)


def test_inputs_are_sorted_with_their_data_root_and_each_real_file_once(tmp_path):
    data = tmp_path / "data"
    for name in ("b", "a"):
        record_file(data / "site", name, ecg_like(seed=1))
    (data / "site" / "notes.txt").write_text("not an ECG")
    alone = record_file(tmp_path, "alone", ecg_like(seed=2))
    os.symlink(data / "site", tmp_path / "link")  # the same files a second way
    inputs = list_inputs([data, alone, tmp_path / "link"])
    assert [(os.path.relpath(p, tmp_path), root) for p, root in inputs] == [
        ("alone.hea", str(alone)), ("data/site/a.hea", str(data)),
        ("data/site/b.hea", str(data))]
    assert list_files([data, alone, tmp_path / "link"]) == [path for path, _ in inputs]


def test_window_ids_and_starts():
    assert window_id("ward7/0001", 0) == "ward7/0001"
    assert window_id("ward7/0001", 2) == "ward7/0001#w2"
    assert window_start_s(3, 500.0) == 30.0
    np.testing.assert_allclose(window_start_s(np.arange(3), 257.0), [0.0, 10.0, 20.0],
                               atol=2e-3)
    assert ecg_starts([0, 1, 2, 0, 0, 1]).tolist() == [0, 3, 4]
    assert ecg_starts([]).tolist() == []


def test_records_are_cut_into_whole_10_s_windows(tmp_path):
    record = read_wfdb(record_file(tmp_path, "long", ecg_like(seconds=25.0, fs=500.0)))
    [(index, start, signal)] = record_windows(record, "first")
    assert (index, start, signal.shape) == (0, 0.0, (12500, 12))
    windows = list(record_windows(record, "all"))
    assert [(k, s) for k, s, _ in windows] == [(0, 0.0), (1, 10.0)]  # the last 5 s: no window
    np.testing.assert_array_equal(windows[1][2], record.signal[5000:10000])
    short = read_wfdb(record_file(tmp_path, "short", ecg_like(seconds=8.0)))
    assert [(k, x.shape[0]) for k, _, x in record_windows(short, "all")] == [(0, 4000)]


def test_read_ecgs_gives_a_window_per_10_s_each_named_by_window_id(tmp_path):
    path = record_file(tmp_path / "data", "rec", ecg_like(seconds=21.0, seed=3))
    [ecg] = read_ecgs(path, ["pclr"], windows="all", policy=IdentifierPolicy(),
                      data_root=tmp_path / "data")
    assert ecg.ecg_id == "rec" and ecg.errors == []
    assert [(w.index, w.start_s) for w in ecg.windows] == [(0, 0.0), (1, 10.0)]
    assert [window_id(ecg.ecg_id, w.index) for w in ecg.windows] == ["rec", "rec#w1"]
    assert ecg.windows[0].tensors["pclr"].shape == (4096, 12)
    assert (ecg.fs, ecg.n_samples) == (500.0, 10500)
    with pytest.raises(ValueError, match="windows must be one of"):
        list(read_ecgs(path, ["pclr"], windows="every"))


def test_bad_windows_and_unreadable_files_are_error_rows_naming_the_file(tmp_path):
    data = tmp_path / "data"
    signal = ecg_like(seconds=20.0, seed=4)
    signal[5000:, 6:9] = 0.0  # the second window (from sample 5000) has three flat leads
    path = record_file(data / "ward7", "mixed", signal)
    broken = record_file(data / "ward7", "broken", ecg_like(seed=5))
    dat = broken.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:1000])
    policy = IdentifierPolicy()

    [ecg] = read_ecgs(path, ["pclr"], windows="all", policy=policy, data_root=data)
    assert [w.index for w in ecg.windows] == [0]
    [(source, problem, message)] = ecg.errors
    assert (source, problem) == ("ward7/mixed", "flat_lead") and str(tmp_path) not in message

    [ecg] = read_ecgs(broken, ["pclr"], policy=policy, data_root=data)
    assert ecg.windows == [] and ecg.ecg_id == "ward7/broken"
    [(source, problem, message)] = ecg.errors
    assert (source, problem) == ("ward7/broken", "unreadable")
    assert "ward7/broken" in message and str(tmp_path) not in message


def test_a_reader_that_crashes_is_an_error_row_not_a_stopped_job(tmp_path, monkeypatch):
    path = record_file(tmp_path, "odd", ecg_like(seed=6))

    def crash(*args, **kwargs):
        raise ZeroDivisionError("a reader's bug")

    monkeypatch.setattr(ingest, "iter_records", crash)
    [ecg] = read_ecgs(path, ["pclr"], policy=IdentifierPolicy(), data_root=tmp_path)
    [(source, problem, message)] = ecg.errors
    assert (source, problem) == ("odd.hea", "unreadable")
    assert "ZeroDivisionError: a reader's bug" in message and str(tmp_path) not in message


def identifying_record(folder):
    comments = ["patient_id: MRN-77", "Age: 61", "Sex: F", "Physician: Dr Who"]
    return record_file(folder / "site", "doe_john", ecg_like(seed=7), comments=comments)


@pytest.mark.parametrize("mode", ["remove", "pseudonymize", "keep"])
def test_ids_patient_ids_metadata_and_sources_follow_the_policy(tmp_path, mode):
    path = identifying_record(tmp_path / "data")
    policy = IdentifierPolicy(mode, KEY if mode == "pseudonymize" else None)
    [ecg] = read_ecgs(path, ["pclr"], policy=policy, data_root=tmp_path / "data")
    expected = {
        "remove": ("site/doe_john", "", "site/doe_john"),  # a WFDB record: no .hea
        "pseudonymize": (pseudonym(KEY, "site/doe_john"), pseudonym(KEY, "MRN-77"),
                         pseudonym(KEY, "site/doe_john")),
        "keep": ("site/doe_john", "MRN-77", "site/doe_john"),
    }[mode]
    assert (ecg.ecg_id, ecg.patient_id, ecg.source) == expected
    assert ecg.meta == {
        "remove": {"age": "61", "sex": "F"},
        "pseudonymize": {"age": "61", "sex": "F", "patient_id": pseudonym(KEY, "MRN-77")},
        "keep": {"patient_id": "MRN-77", "age": "61", "sex": "F", "physician": "Dr Who"},
    }[mode]
    counts = ecg.identifiers.as_dict()
    assert counts["identifiers"] == mode
    assert counts["patient_ids_removed"] == (mode == "remove")
    assert counts["patient_ids_pseudonymized"] == (mode == "pseudonymize")


def test_ids_the_user_gives_win_and_no_policy_means_as_read(tmp_path):
    path = identifying_record(tmp_path / "data")
    [ecg] = read_ecgs(path, ["pclr"], policy=IdentifierPolicy(), data_root=tmp_path / "data",
                      ecg_id="E-1", patient_id="P-1")
    assert (ecg.ecg_id, ecg.patient_id) == ("E-1", "P-1")
    assert ecg.identifiers.as_dict()["patient_ids_removed"] == 0  # the manifest's ids pair
    field = IdentifierPolicy(patient_id_field="physician")
    [ecg] = read_ecgs(path, ["pclr"], policy=field, data_root=tmp_path / "data")
    assert ecg.patient_id == "Dr Who" and ecg.meta["physician"] == "Dr Who"
    [ecg] = read_ecgs(path, ["pclr"])  # in memory: as the reader gives it
    assert ecg.ecg_id == str(path.with_suffix("")) and ecg.meta["patient_id"] == "MRN-77"
    assert ecg.identifiers is None
