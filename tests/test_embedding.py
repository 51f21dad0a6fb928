"""Bulk embedding: every ECG embedded or reported, shards split, kills resume, memory flat."""

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import NARROW_ENCODER
from ecg_files import ecg_like, write_wfdb
from pclr_keras.artifacts import export_encoder, load_encoder
from pclr_keras.data import TensorizedECGs
from pclr_keras.embedding import (
    embed, embed_files, embedding_columns, format_summary, parse_shard)
from pclr_keras.io import read_wfdb
from pclr_keras.models import build_encoder
from pclr_keras.preprocess import preprocess_ecg
from pclr_keras.deidentify import without_root
from pclr_keras.tensorize import TensorizeSettings, find_inputs, tensorize

ATOL = 1e-5


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(0)
    return build_encoder("pclr", **NARROW_ENCODER)


@pytest.fixture(scope="module")
def encoder_file(encoder, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    return export_encoder(encoder, out, name="narrow", formats=("keras",))["keras"]


def read_output(path):
    if str(path).endswith((".csv", ".txt")):
        return pd.read_csv(path, dtype={c: str for c in ("ecg_id", "patient_id", "source",
                                                     "quality")},
                           keep_default_na=False)
    return pd.read_parquet(path)


def vectors(frame):
    return frame[[c for c in frame if c.startswith("embed_")]].to_numpy()


def test_tensorized_folder_gives_predict_outputs_ids_and_patients(encoder, synthetic_tensors,
                                                                  tmp_path):
    summary = embed(encoder, synthetic_tensors, tmp_path / "emb.parquet", batch_size=16,
                    chunk_size=50, progress=False)
    ecgs = TensorizedECGs(synthetic_tensors)
    expected = encoder.predict(ecgs.read_ecgs(np.arange(len(ecgs))), verbose=0)
    frame = read_output(tmp_path / "emb.parquet")
    dim = encoder.output.shape[-1]
    assert list(frame.columns) == ["ecg_id", "patient_id", "source", "quality",
                                   *embedding_columns(dim)]
    assert (frame.dtypes[4:] == np.float32).all()
    assert frame.ecg_id.tolist() == ecgs.labels.ecg_id.tolist()
    assert frame.patient_id.tolist() == ecgs.labels.patient_id.tolist()
    assert frame.source.tolist() == ecgs.labels.source.tolist()
    np.testing.assert_allclose(vectors(frame), expected, atol=ATOL, rtol=ATOL)
    assert summary["ecgs_found"] == summary["embedded"] == len(ecgs) == 122
    assert summary["rejected"] == {} and summary["parts"] == 3
    assert pd.read_csv(tmp_path / "emb.parquet.errors.csv").empty
    assert json.loads((tmp_path / "emb.parquet.summary.json").read_text())["embedded"] == 122
    assert not (tmp_path / "emb.parquet.parts").exists()
    assert "embedded         122" in format_summary(summary)

    # CSV: by suffix or by format, the same table
    embed(encoder, synthetic_tensors, tmp_path / "emb.csv", batch_size=32, progress=False)
    embed(encoder, synthetic_tensors, tmp_path / "emb.txt", output_format="csv",
          progress=False)
    for name in ("emb.csv", "emb.txt"):
        pd.testing.assert_frame_equal(read_output(tmp_path / name), frame,
                                      check_dtype=False, atol=ATOL, rtol=ATOL)

    # the same job again: the stored result, nothing recomputed
    again = embed(encoder, synthetic_tensors, tmp_path / "emb.parquet", batch_size=16,
                  chunk_size=50, progress=False)
    assert again["already_complete"] and again["embedded"] == 122


def test_raw_files_equal_the_tensorized_path(encoder, synthetic_tensors, tmp_path):
    """The cohort's WFDB records, read and preprocessed on the fly, give the same rows."""
    records = synthetic_tensors.parent / "records"
    embed(encoder, [records], tmp_path / "raw.parquet", batch_size=16, chunk_size=40,
          workers=2, progress=False)
    embed(encoder, synthetic_tensors, tmp_path / "tensors.parquet", progress=False)
    raw, tensors = read_output(tmp_path / "raw.parquet"), read_output(tmp_path / "tensors.parquet")
    assert raw.ecg_id.tolist() == sorted(tensors.ecg_id) == tensors.ecg_id.tolist()
    np.testing.assert_allclose(vectors(raw), vectors(tensors), atol=ATOL, rtol=ATOL)


def write_mixed_folder(folder):
    """Good WFDB records and bad ones, each bad one with the reason it should be given."""
    folder.mkdir()
    good = []
    for k in range(5):
        fs = (500.0, 250.0, 100.0)[k % 3]
        write_wfdb(folder, f"good{k}", ecg_like(fs=fs, seed=k), fs=fs,
                   comments=[f"patient_id: P{k % 2}", "Age: 60"])
        good.append(folder / f"good{k}.hea")
    broken = write_wfdb(folder, "broken", ecg_like(seed=10))
    dat = broken.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:1000])
    flat = ecg_like(seed=11)
    flat[:, 6:9] = 0.0  # three flat leads: rejected even by default
    write_wfdb(folder, "flat", flat)
    write_wfdb(folder, "short", ecg_like(seconds=5.0, seed=12))
    write_wfdb(folder, "microvolts", ecg_like(seed=13) * 1000.0, gain=1.0)
    write_wfdb(folder, "eleven", ecg_like(seed=14)[:, :11], lead_names=[
        "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5"])
    (folder / "notes.txt").write_text("not an ECG")
    expected_errors = {"broken": "unreadable", "flat": "flat_lead", "short": "too_short",
                       "microvolts": "microvolts", "eleven": "missing_lead"}
    return good, expected_errors


def test_bad_files_are_reported_and_the_rest_embedded(encoder, tmp_path):
    good, expected_errors = write_mixed_folder(tmp_path / "ecgs")
    out = tmp_path / "emb.parquet"
    summary = embed(encoder, [tmp_path / "ecgs"], out, batch_size=2, chunk_size=3,
                    progress=False, patient_id_field="patient_id")  # named: written as read
    frame = read_output(out)
    assert frame.ecg_id.tolist() == [p.stem for p in good]  # relative to the folder given
    assert frame.patient_id.tolist() == ["P0", "P1", "P0", "P1", "P0"]
    x = []
    for path in good:
        record = read_wfdb(path)
        x.append(preprocess_ecg(record.signal, record.fs, record.lead_names))
    np.testing.assert_allclose(vectors(frame), encoder.predict(np.stack(x), verbose=0),
                               atol=ATOL, rtol=ATOL)

    errors = pd.read_csv(tmp_path / "emb.parquet.errors.csv")
    # a WFDB record is named without `.hea`, as `pclr tensorize` names it
    assert dict(zip(errors.source, errors.problem)) == expected_errors  # relative names
    assert errors.message.str.len().gt(10).all()
    assert not errors.message.str.contains(str(tmp_path)).any()
    tensorize(find_inputs([tmp_path / "ecgs"]), tmp_path / "tensors",
              TensorizeSettings(patient_id_field="patient_id"), workers=1, progress=False)
    pd.testing.assert_frame_equal(
        errors.sort_values("source", ignore_index=True),
        pd.read_csv(tmp_path / "tensors" / "errors.csv").sort_values("source", ignore_index=True))
    assert summary["ecgs_found"] == 10 and summary["embedded"] == 5
    assert summary["rejected"] == {"flat_lead": 1, "microvolts": 1, "missing_lead": 1,
                                   "too_short": 1, "unreadable": 1}

    # the in-memory API (`pclr demo`) runs the same pipeline
    result = embed_files(encoder, sorted((tmp_path / "ecgs").glob("*.hea")), "pclr",
                         batch_size=4, progress=False)
    assert result.sources == [str(p) for p in good]  # in memory: the paths as given
    np.testing.assert_allclose(result.embeddings, vectors(frame), atol=ATOL, rtol=ATOL)
    root = tmp_path / "ecgs"
    assert sorted((without_root(s, root), p, without_root(m, root))
                  for s, p, m in result.errors) == sorted(map(tuple, errors.to_numpy()))


def test_ecgs_with_one_or_two_flat_leads_are_embedded_and_flagged(encoder, encoder_file,
                                                                   tmp_path):
    folder = tmp_path / "ecgs"
    folder.mkdir()
    write_wfdb(folder, "a_good", ecg_like(seed=1))
    one, two = ecg_like(seed=2), ecg_like(seed=3)
    one[:, 7] = 0.005
    two[:, 6:8] = 0.0
    write_wfdb(folder, "b_one_flat", one)
    write_wfdb(folder, "c_two_flat", two)
    embed(encoder, [folder], tmp_path / "emb.parquet", progress=False)
    frame = read_output(tmp_path / "emb.parquet")
    assert frame.quality.tolist() == ["", "flat:V2", "flat:V1,V2"]
    record = read_wfdb(folder / "c_two_flat.hea")
    x = preprocess_ecg(record.signal, record.fs, record.lead_names, max_flat_leads=2)
    np.testing.assert_allclose(vectors(frame)[2], encoder.predict(x[None], verbose=0)[0],
                               atol=ATOL, rtol=ATOL)

    from pclr_keras.cli import main as pclr_main

    out = tmp_path / "strict.csv"
    assert pclr_main(["embed", "--model", str(encoder_file), "--data", str(folder),
                      "--out", str(out), "--strict"]) in (0, None)
    assert read_output(out).ecg_id.tolist() == ["a_good"]
    errors = pd.read_csv(tmp_path / "strict.csv.errors.csv")
    assert errors.problem.tolist() == ["flat_lead", "flat_lead"]


def test_shards_split_the_archive_without_overlap(encoder, synthetic_tensors, tmp_path):
    embed(encoder, synthetic_tensors, tmp_path / "whole.parquet", progress=False)
    whole = read_output(tmp_path / "whole.parquet")
    shards = []
    for i in range(3):
        summary = embed(encoder, synthetic_tensors, tmp_path / f"shard{i}.parquet",
                        shard=parse_shard(f"{i}/3"), chunk_size=16, batch_size=8,
                        progress=False)
        assert summary["shard"] == [i, 3]
        shards.append(read_output(tmp_path / f"shard{i}.parquet"))
    assert [len(s) for s in shards] == [41, 41, 40]
    union = pd.concat(shards)
    assert not union.ecg_id.duplicated().any()
    union = union.set_index("ecg_id").loc[whole.ecg_id].reset_index()
    pd.testing.assert_frame_equal(union, whole, atol=ATOL, rtol=ATOL)
    assert shards[1].ecg_id.tolist() == whole.ecg_id.tolist()[1::3]


def test_bad_arguments_are_refused(encoder, synthetic_tensors, tmp_path):
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="shard"):
        embed(encoder, synthetic_tensors, tmp_path / "x.parquet", shard=(2, 2))
    with pytest.raises(ValueError, match="output_format"):
        embed(encoder, synthetic_tensors, tmp_path / "x.parquet", output_format="xlsx")
    with pytest.raises(ValueError, match="alone"):
        embed(encoder, [synthetic_tensors, tmp_path], tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="no ECG files"):
        embed(encoder, [tmp_path], tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError):
        embed(tmp_path / "missing.keras", synthetic_tensors, tmp_path / "x.parquet")


KILLED_RUN = textwrap.dedent("""
    import sys, time
    import pclr_keras.embedding.job as job
    write_part = job.write_part
    def slow_write_part(*args):  # slow enough for the kill to land mid-run
        write_part(*args)
        time.sleep(0.3)
    job.write_part = slow_write_part
    job.embed(sys.argv[1], sys.argv[2], sys.argv[3], chunk_size=8, batch_size=8,
              progress=False)
""")


def test_killed_run_resumes_to_the_same_output(encoder_file, synthetic_tensors, tmp_path):
    out = tmp_path / "killed.parquet"
    parts = tmp_path / "killed.parquet.parts"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(encoder_file), str(synthetic_tensors), str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(parts.glob("part-*.parquet")))
    assert 3 <= done_before < 16, "the kill should land mid-run"
    assert not out.exists()

    summary = embed(encoder_file, synthetic_tensors, out, chunk_size=8, batch_size=8,
                    progress=False)
    assert summary["parts"] == 16 and summary["parts_reused"] == done_before
    embed(encoder_file, synthetic_tensors, tmp_path / "whole.parquet", chunk_size=8,
          batch_size=8, progress=False)
    resumed, whole = read_output(out), read_output(tmp_path / "whole.parquet")
    assert len(resumed) == 122 and not resumed.ecg_id.duplicated().any()
    pd.testing.assert_frame_equal(resumed, whole, atol=1e-6, rtol=1e-6)
    assert not list(tmp_path.glob(".*tmp")) and not parts.exists()


def test_parts_of_another_model_are_recomputed(encoder, synthetic_tensors, tmp_path):
    out = tmp_path / "emb.parquet"
    embed(encoder, synthetic_tensors, out, chunk_size=40, keep_parts=True, progress=False)
    assert len(list((tmp_path / "emb.parquet.parts").glob("part-*.parquet"))) == 4
    keras.utils.set_random_seed(1)
    other = build_encoder("pclr", **NARROW_ENCODER)
    summary = embed(other, synthetic_tensors, out, chunk_size=40, progress=False)
    assert summary["parts_reused"] == 0 and not summary.get("already_complete")
    ecgs = TensorizedECGs(synthetic_tensors)
    np.testing.assert_allclose(vectors(read_output(out)),
                               other.predict(ecgs.read_ecgs(np.arange(len(ecgs))), verbose=0),
                               atol=ATOL, rtol=ATOL)


def test_ml4h_keras2_file_is_a_model(upstream_files, tmp_path):
    """ml4h-style full-size PCLR.h5 (Keras 2, with head and custom loss) on a few raw ECGs."""
    model = upstream_files / "pclr.h5"
    folder = tmp_path / "ecgs"
    folder.mkdir()
    paths = [write_wfdb(folder, f"ecg{k}", ecg_like(seed=k)) for k in range(3)]
    summary = embed(model, [folder], tmp_path / "emb.parquet", batch_size=2, progress=False)
    assert summary["embedded"] == 3 and summary["embedding_dim"] == 320
    assert summary["model"] == "pclr.h5" and summary["variant"] == "pclr"  # no folders
    x = np.stack([preprocess_ecg(r.signal, r.fs, r.lead_names)
                  for r in map(read_wfdb, paths)])
    np.testing.assert_allclose(vectors(read_output(tmp_path / "emb.parquet")),
                               load_encoder(model).predict(x, verbose=0), atol=1e-4, rtol=1e-4)


def test_memory_holds_a_few_batches_not_the_archive(encoder, synthetic_tensors, tmp_path):
    """numpy memory at the peak is a few batches of ECGs, far from the 122 ECGs' 24 MB."""
    embed(encoder, synthetic_tensors, tmp_path / "warm.parquet", batch_size=4, progress=False)
    ecg_bytes = 4096 * 12 * 4
    tracemalloc.start()
    try:
        embed(encoder, synthetic_tensors, tmp_path / "emb.parquet", batch_size=4,
              chunk_size=16, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 122 * ecg_bytes / 3, f"peak {peak / 1e6:.1f} MB"
    shutil.rmtree(tmp_path)


def test_folder_mixing_every_format_tensorizes_and_embeds(encoder, tmp_path):
    from pclr_keras.cli import main as pclr_main
    from conftest import require_shared

    clinical, sph = require_shared("data/clinical"), require_shared("data/sph")
    folder = tmp_path / "ecgs"
    folder.mkdir()
    write_wfdb(folder, "wfdb_record", ecg_like(seed=4))
    shutil.copy(sph / "SPH00001.h5", folder)
    names = {"muse_xml/egm_muse-sinus.xml": "muse.xml",
             "philips_xml/129DYPRG.XML": "philips_103.XML",
             "philips_xml/ad4d3d80-d165_1-04_orig.xml": "philips_104.xml",
             "hl7_aecg/Example_aECG.xml": "aecg_hl7.xml",
             "hl7_aecg/ad4d3d80-d165_1-04_converted.xml": "aecg_philips.xml",
             "dicom/waveform_ecg.dcm": "dicom_ecg"}  # DICOM without a suffix
    for source, name in names.items():
        shutil.copy(clinical / source, folder / name)
    out = tmp_path / "tensors"
    assert pclr_main(["tensorize", str(folder), "--out", str(out), "--workers", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    errors = pd.read_csv(out / "errors.csv")
    assert summary["tensorized"] == 8 and summary["rejected"] == {}, errors.message.tolist()
    labels = pd.read_csv(out / "labels.csv")
    assert labels.patient_id.isna().all()  # the files' ids are left out by default
    assert "file_ecg_id" not in labels and "61d1a24f" not in (out / "labels.csv").read_text()
    kept = tmp_path / "kept"
    assert pclr_main(["tensorize", str(folder), "--out", str(kept), "--workers", "1",
                      "--keep-identifiers"]) == 0
    kept_labels = pd.read_csv(kept / "labels.csv")
    assert kept_labels.patient_id.notna().sum() == 6  # the six hospital files' own ids
    assert set(kept_labels.file_ecg_id.dropna()) >= {"61d1a24f-b47e-41aa-ae95-f8ac302f4eeb"}

    from_raw = embed(encoder, [folder], tmp_path / "raw.parquet", progress=False)
    from_tensors = embed(encoder, out, tmp_path / "tensors.parquet", progress=False)
    assert from_raw["embedded"] == from_tensors["embedded"] == 8
    raw, tensors = read_output(tmp_path / "raw.parquet"), read_output(tmp_path / "tensors.parquet")
    assert raw.ecg_id.tolist() == sorted(tensors.ecg_id)
    np.testing.assert_allclose(vectors(raw), vectors(tensors.sort_values("ecg_id")),
                               atol=ATOL, rtol=ATOL)


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
    assert list(mean.columns[:5]) == ["ecg_id", "patient_id", "source", "quality", "windows"]
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
