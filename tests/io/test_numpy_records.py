"""NumPy readers: each layout, what wins over what, and the errors."""

import numpy as np
import pytest

from pclr_keras.io.numpy_records import iter_numpy
from pclr_keras.io.record import ECGReadError

LEADS = ["I", "II", "V1"]


@pytest.fixture
def ecg():
    """(samples, leads) in mV."""
    return np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)


def test_npy_samples_first(tmp_path, ecg):
    path = tmp_path / "one.npy"
    np.save(path, ecg)
    (record,) = iter_numpy(path, fs=500, lead_names=LEADS)
    np.testing.assert_array_equal(record.signal, ecg)
    assert (record.fs, record.lead_names, record.source, record.meta) == (
        500.0, LEADS, str(path), {})


def test_npy_leads_first_and_units(tmp_path, ecg):
    path = tmp_path / "one.npy"
    np.save(path, (ecg.T * 1000).astype(np.int16))
    (record,) = iter_numpy(path, fs=500, lead_names=LEADS, units="µV", layout="leads_first")
    assert record.signal.shape == (1000, 3)
    np.testing.assert_allclose(record.signal, ecg, atol=1e-3)
    np.save(path, ecg / 1000)
    (record,) = iter_numpy(path, fs=500, lead_names=LEADS, units="V")
    np.testing.assert_allclose(record.signal, ecg, rtol=1e-6)


def test_npy_many_ecgs(tmp_path, ecg):
    path = tmp_path / "many.npy"
    np.save(path, np.stack([ecg, 2 * ecg]))
    records = list(iter_numpy(path, fs=400, lead_names=LEADS))
    assert [r.source for r in records] == [f"{path}#row=0", f"{path}#row=1"]
    np.testing.assert_array_equal(records[1].signal, 2 * ecg)
    records = list(iter_numpy(path, fs=400, lead_names=[f"L{i}" for i in range(1000)],
                              layout="leads_first"))
    assert records[0].signal.shape == (3, 1000)


def test_npz_signal_with_stored_info_and_precedence(tmp_path, ecg):
    path = tmp_path / "one.npz"
    np.savez(path, ecg=ecg * 1000, fs=250, lead_names=np.array(LEADS), units="uV")
    (record,) = iter_numpy(path)
    assert record.fs == 250.0 and record.lead_names == LEADS
    np.testing.assert_allclose(record.signal, ecg, rtol=1e-6)
    (record,) = iter_numpy(path, fs=500, lead_names=["a", "b", "c"], units="mV")  # arguments win
    assert record.fs == 500.0 and record.lead_names == ["a", "b", "c"]
    np.testing.assert_allclose(record.signal, ecg * 1000, rtol=1e-6)


def test_npz_keyed_by_lead(tmp_path, ecg):
    path = tmp_path / "leads.npz"
    np.savez(path, **{lead: ecg[:, i] for i, lead in enumerate(LEADS)}, fs=500)
    for layout in ("samples_first", "leads_first"):
        (record,) = iter_numpy(path, layout=layout)
        assert record.lead_names == LEADS and record.fs == 500.0
        np.testing.assert_array_equal(record.signal, ecg)
    np.savez(path, I=ecg[:, 0], II=ecg[:999, 1], fs=500)
    with pytest.raises(ECGReadError, match=r"differ in length: I \(1000,\), II \(999,\)"):
        list(iter_numpy(path))


def test_missing_fs_or_lead_names_say_what_to_pass(tmp_path, ecg):
    path = tmp_path / "bare.npy"
    np.save(path, ecg)
    with pytest.raises(ECGReadError, match=r"bare\.npy: sampling rate unknown: pass fs="):
        list(iter_numpy(path, lead_names=LEADS))
    with pytest.raises(ECGReadError, match="lead names unknown: pass lead_names="):
        list(iter_numpy(path, fs=500))


def test_shape_dtype_and_unit_errors(tmp_path, ecg):
    path = tmp_path / "bad.npy"
    np.save(path, ecg[:, 0])
    with pytest.raises(ECGReadError, match=r"expected a 2-D.*float32 \(1000,\)"):
        list(iter_numpy(path, fs=500, lead_names=LEADS))
    np.save(path, ecg.T)
    with pytest.raises(ECGReadError, match="has 1000 leads but 3 lead names.*leads_first"):
        list(iter_numpy(path, fs=500, lead_names=LEADS))
    np.save(path, np.array([["a", "b", "c"]]))
    with pytest.raises(ECGReadError, match="of numbers"):
        list(iter_numpy(path, fs=500, lead_names=LEADS))
    np.save(path, ecg)
    with pytest.raises(ECGReadError, match="unknown units 'mmHg'"):
        list(iter_numpy(path, fs=500, lead_names=LEADS, units="mmHg"))
    with pytest.raises(ECGReadError, match="not positive"):
        list(iter_numpy(path, fs=0, lead_names=LEADS))
    with pytest.raises(ValueError, match="layout"):
        list(iter_numpy(path, fs=500, lead_names=LEADS, layout="columns"))
    np.savez(tmp_path / "odd.npz", images=np.zeros((2, 2)))
    with pytest.raises(ECGReadError, match=r"'signal'.*images \(2, 2\)"):
        list(iter_numpy(tmp_path / "odd.npz", fs=500, lead_names=LEADS))


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_unreadable_or_truncated_files(tmp_path, ecg, suffix):
    whole, cut, noise = (tmp_path / f"{name}{suffix}" for name in ("whole", "cut", "noise"))
    (np.save if suffix == ".npy" else np.savez)(whole, ecg)
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(ECGReadError, match=rf"cut\{suffix}: unreadable or truncated"):
        list(iter_numpy(cut, fs=500, lead_names=LEADS))
    noise.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ECGReadError, match=rf"noise\{suffix}: not a NumPy"):
        list(iter_numpy(noise, fs=500, lead_names=LEADS))
    with pytest.raises(ECGReadError, match="missing"):
        list(iter_numpy(tmp_path / f"missing{suffix}", fs=500, lead_names=LEADS))
