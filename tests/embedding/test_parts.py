"""Part files and the output they assemble into: windows, their mean, checked options."""

import numpy as np
import pytest

from embedding_fixtures import ATOL, read_output, vectors
from embedding_fixtures import encoder  # noqa: F401 (a fixture)
from pclr_keras.embedding import embed
from pclr_keras.io import read_wfdb
from pclr_keras.preprocess import preprocess_ecg
from pclr_keras.tensorize import find_inputs, tensorize


def write_ptb_diagnostic_like(folder, name="s0010_re"):
    """A record laid out as PTB Diagnostic's: 1000 Hz, 38.4 s, 12 leads + vx, vy, vz."""
    import wfdb

    from pclr_keras.synthetic import example_ecg
    from pclr_keras.variants import STANDARD_LEADS

    twelve = example_ecg(fs=1000.0, seconds=38.4, seed=3)
    frank = twelve[:, [0, 5, 7]] * np.array([1.1, 0.9, -0.8])
    signal = np.concatenate([twelve, frank], axis=1)
    names = [lead.lower() for lead in STANDARD_LEADS] + ["vx", "vy", "vz"]
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=1000, units=["mV"] * 15, sig_name=names, p_signal=signal,
                fmt=["16"] * 15, adc_gain=[2000.0] * 15, baseline=[0] * 15,
                write_dir=str(folder))
    return folder / name


def test_windows_all_mean_and_per_window_on_a_long_1000_hz_record(encoder, tmp_path):
    from pclr_keras.tensorize import TensorizeSettings

    path = write_ptb_diagnostic_like(tmp_path / "ptb")
    record = read_wfdb(path)
    assert record.signal.shape == (38400, 15) and record.fs == 1000
    per_window = np.stack([
        preprocess_ecg(record.signal[k * 10000:(k + 1) * 10000], 1000.0, record.lead_names)
        for k in range(3)])  # 38.4 s: three whole 10 s windows
    expected = encoder(per_window, training=False).numpy()

    embed(encoder, tmp_path / "ptb", tmp_path / "mean.parquet", windows="all", progress=False)
    mean = read_output(tmp_path / "mean.parquet")
    assert list(mean.columns[:6]) == ["ecg_id", "patient_id", "source", "quality", "leads",
                                      "windows"]
    (ecg_id,) = mean["ecg_id"]
    assert ecg_id.endswith("s0010_re") and mean["windows"].tolist() == [3]
    np.testing.assert_allclose(vectors(mean), expected.mean(axis=0, keepdims=True), atol=ATOL)

    embed(encoder, tmp_path / "ptb", tmp_path / "windows.csv", windows="all",
          aggregate="none", progress=False)
    rows = read_output(tmp_path / "windows.csv")
    assert rows["ecg_id"].tolist() == [ecg_id, f"{ecg_id}#w1", f"{ecg_id}#w2"]
    assert rows["window"].tolist() == [0, 1, 2] and rows["start_s"].tolist() == [0, 10, 20]
    np.testing.assert_allclose(vectors(rows), expected, atol=ATOL)

    # The same record tensorized with all its windows, then averaged per ECG.
    tensorize(find_inputs([tmp_path / "ptb"]), tmp_path / "tensors",
              TensorizeSettings(windows="all"), workers=1, progress=False)
    embed(encoder, tmp_path / "tensors", tmp_path / "tensorized.parquet", windows="all",
          progress=False)
    tensorized = read_output(tmp_path / "tensorized.parquet")
    assert tensorized["ecg_id"].tolist() == [ecg_id] and tensorized["windows"].tolist() == [3]
    np.testing.assert_allclose(vectors(tensorized), vectors(mean), atol=ATOL)
    # The default stays one row per stored tensor.
    embed(encoder, tmp_path / "tensors", tmp_path / "rows.parquet", progress=False)
    assert len(read_output(tmp_path / "rows.parquet")) == 3


def test_windows_and_aggregate_are_checked(encoder, tmp_path):
    with pytest.raises(ValueError, match="aggregate one of"):
        embed(encoder, tmp_path, tmp_path / "x.parquet", windows="all", aggregate="median")
