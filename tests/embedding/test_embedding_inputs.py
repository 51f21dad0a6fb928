"""What embedding reads: raw files as tensorize reads them, bad files reported, memory flat."""

import json
import shutil
import tracemalloc

import numpy as np
import pandas as pd

from ecg_files import ecg_like, write_wfdb
from embedding_fixtures import ATOL, read_output, vectors
from embedding_fixtures import encoder, encoder_file  # noqa: F401 (fixtures)
from pclr_keras.deidentify import without_root
from pclr_keras.embedding import embed, embed_files
from pclr_keras.io import read_wfdb
from pclr_keras.preprocess import preprocess_ecg
from pclr_keras.tensorize import TensorizeSettings, find_inputs, tensorize


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
