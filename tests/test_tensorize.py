"""`pclr tensorize`: every input ends tensorized or in errors.csv; kills resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pandas as pd

from conftest import require_shared
from ecg_files import ecg_like, write_wfdb
from pclr_keras.cli import main as pclr_main
from pclr_keras.io import read_wfdb
from pclr_keras.preprocess import preprocess_ecg
from pclr_keras.tensorize import TensorizeSettings, find_inputs, tensorize
from pclr_keras.variants import STANDARD_LEADS


def read_shard_tensor(out, row, variant="pclr"):
    with h5py.File(out / "shards" / f"shard-{row.shard:05d}.h5", "r") as f:
        return f[f"ecg/{variant}"][row.row]


def ptbxl_manifest(tmp_path, rows=60):
    """The first PTB-XL manifest rows, with the flagged duplicates among them."""
    data = require_shared("data")
    manifest = pd.read_csv(data / "ptbxl" / "manifest.csv").iloc[120: 120 + rows]
    path = tmp_path / "manifest.csv"
    manifest.to_csv(path, index=False)
    return path, data, manifest


def test_ptbxl_manifest_tensorizes_with_labels_and_patient_index(tmp_path):
    manifest_path, data, manifest = ptbxl_manifest(tmp_path)
    out = tmp_path / "out"
    assert pclr_main(["tensorize", "--manifest", str(manifest_path), "--path-column", "path_lr",
                      "--path-root", str(data), "--drop-if", "in_v1_0_3 == False",
                      "--out", str(out), "--workers", "1", "--shard-size", "25"]) == 0
    kept = manifest[manifest.in_v1_0_3]
    labels = pd.read_csv(out / "labels.csv", dtype={"patient_id": str})
    assert labels.ecg_id.tolist() == kept.ecg_id.tolist()
    assert labels.patient_id.tolist() == kept.patient_id.astype(str).tolist()
    assert labels.strat_fold.tolist() == kept.strat_fold.tolist()
    assert labels.diagnostic_superclass.fillna("").tolist() == \
        kept.diagnostic_superclass.fillna("").tolist()
    errors = pd.read_csv(out / "errors.csv")
    assert sorted(errors.problem) == ["excluded"] * int((~manifest.in_v1_0_3).sum())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ecgs_found"] == len(manifest) == summary["tensorized"] + len(errors)
    assert summary["patients"] == kept.patient_id.nunique()

    index = pd.read_csv(out / "index.csv", dtype={"patient_id": str})
    assert index.patient_id.is_monotonic_increasing
    for row in labels.sample(5, random_state=0).itertuples():
        record = read_wfdb(data / manifest.set_index("ecg_id").path_lr[row.ecg_id])
        expected = preprocess_ecg(record.signal, record.fs, record.lead_names)
        np.testing.assert_array_equal(read_shard_tensor(out, row), expected)
        assert (row.fs_original, row.n_samples_original) == (100.0, 1000)


def write_mixed_folder(folder):
    """Good records plus one of each kind of bad file; returns the expected problems."""
    folder.mkdir()
    for seed in range(3):
        write_wfdb(folder, f"good{seed}", ecg_like(seed=seed), comments=[f"PatientID: P{seed % 2}"])
    truncated = write_wfdb(folder, "truncated", ecg_like(seed=10))
    dat = truncated.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: dat.stat().st_size // 3])
    with_nan = ecg_like(seed=11)
    with_nan[100:200, 7] = np.nan  # stored as WFDB's invalid sample
    write_wfdb(folder, "nan", with_nan)
    flat = ecg_like(seed=12)
    flat[:, 6:9] = 0.0  # three disconnected electrodes: rejected
    write_wfdb(folder, "flat", flat)
    one_flat = ecg_like(seed=15)
    one_flat[:, 8] = 0.01  # V3 off: kept, flagged in `quality`
    write_wfdb(folder, "one_flat", one_flat, comments=["PatientID: P2"])
    write_wfdb(folder, "microvolts_as_mv", ecg_like(seed=13) * 1000, units="mV", gain=1.0)
    write_wfdb(folder, "short", ecg_like(seconds=5.0, seed=14))
    (folder / "unreadable.hea").write_text("this is not a WFDB header\n")
    shutil.copy(folder / "good0.hea", folder / "zcopy.hea")
    (folder / "zcopy.hea").write_text((folder / "good0.hea").read_text().replace("good0", "zcopy"))
    shutil.copy(folder / "good0.dat", folder / "zcopy.dat")
    (folder / "README.txt").write_text("not an ECG; a folder walk skips it")
    return {"truncated": "unreadable", "nan": "not_finite", "flat": "flat_lead",
            "microvolts_as_mv": "microvolts", "short": "too_short", "unreadable": "unreadable",
            "zcopy": "duplicate"}


def test_mixed_folder_counts_add_up_and_name_each_bad_file(tmp_path):
    expected = write_mixed_folder(tmp_path / "ecgs")
    out = tmp_path / "out"
    summary = tensorize(find_inputs([tmp_path / "ecgs"]), out,
                        TensorizeSettings(patient_id_field="patientid"), workers=1, progress=False)
    errors = pd.read_csv(out / "errors.csv", keep_default_na=False)  # a record named "nan"
    assert not errors.source.str.startswith("/").any()  # named relative to the folder given
    found = {os.path.basename(source).split(".")[0]: problem
             for source, problem in zip(errors.source, errors.problem)}
    assert found == expected
    for row in errors.itertuples():
        assert os.path.basename(row.source).split(".")[0] in row.message
    assert summary["ecgs_found"] == 11 == summary["tensorized"] + len(errors)
    assert summary["tensorized"] == 4 and summary["flagged"] == 1
    assert summary["rejected"] == {"duplicate": 1, "flat_lead": 1, "microvolts": 1, "not_finite": 1,
                                   "too_short": 1, "unreadable": 2}
    assert "leads V1, V2, V3 are flat" in errors.message[errors.problem == "flat_lead"].iloc[0]
    labels = pd.read_csv(out / "labels.csv")
    assert sorted(labels.patient_id) == ["P0", "P0", "P1", "P2"]
    assert summary["patients_with_2_or_more_ecgs"] == 1
    quality = dict(zip(labels.ecg_id.map(os.path.basename), labels.quality.fillna("")))
    assert quality == {"good0": "", "good1": "", "good2": "", "one_flat": "flat:V3"}
    assert len(labels.query("quality.isna()")) == 3  # what `pretrain --filter` can select
    with h5py.File(out / "shards" / "shard-00000.h5", "r") as f:  # the duplicate is gone
        assert f["ecg/pclr"].shape[0] == len(f["ecg_id"]) == summary["tensorized"]
        assert f["quality"].asstr()[()].tolist() == labels.quality.fillna("").tolist()


def test_strict_rejects_one_flat_lead(tmp_path):
    folder = tmp_path / "ecgs"
    folder.mkdir()
    one_flat = ecg_like(seed=15)
    one_flat[:, 7] = 0.0
    write_wfdb(folder, "one_flat", one_flat)
    write_wfdb(folder, "good", ecg_like(seed=1))
    out = tmp_path / "out"
    assert pclr_main(["tensorize", str(folder), "--out", str(out), "--workers", "1",
                      "--strict"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["tensorized"], summary["rejected"]) == (1, {"flat_lead": 1})
    message = pd.read_csv(out / "errors.csv").message[0]
    assert "lead V2 is flat (peak-to-peak 0.000 mV" in message


def test_duplicates_across_shards_leave_the_shards_and_stay_reported_on_rerun(tmp_path):
    folder = tmp_path / "ecgs"
    folder.mkdir()
    for seed in range(4):
        write_wfdb(folder, f"a{seed}", ecg_like(seed=seed))
    for name, seed in (("b_copy0", 0), ("c_copy2", 2)):  # same signals, later shards
        write_wfdb(folder, name, ecg_like(seed=seed))
    out = tmp_path / "out"
    runs = [tensorize(find_inputs([folder]), out, shard_size=2, workers=1, progress=False)
            for _ in range(2)]
    assert runs[0] == runs[1]  # the rewritten shards are reused as they are
    summary = runs[0]
    assert (summary["tensorized"], summary["rejected"]) == (4, {"duplicate": 2})
    labels = pd.read_csv(out / "labels.csv")
    rows = 0
    for k, name in enumerate(summary["shards"]):
        with h5py.File(out / "shards" / name, "r") as f:
            rows += f["ecg/pclr"].shape[0]
            assert f["ecg_id"].asstr()[()].tolist() == labels.ecg_id[labels.shard == k].tolist()
            assert labels.row[labels.shard == k].tolist() == list(range(len(f["ecg_id"])))
    assert rows == summary["tensorized"]
    for row in labels.itertuples():  # rows still point at their own tensors
        record = read_wfdb(folder / row.source)  # named relative to the folder given
        np.testing.assert_array_equal(read_shard_tensor(out, row),
                                      preprocess_ecg(record.signal, record.fs, record.lead_names))


def test_without_patient_ids_ecgs_are_kept_and_flagged(tmp_path):
    folder = tmp_path / "ecgs"
    folder.mkdir()
    write_wfdb(folder, "a", ecg_like(seed=1))
    summary = tensorize(find_inputs([folder]), tmp_path / "out", workers=1, progress=False)
    assert (summary["tensorized"], summary["without_patient_id"], summary["patients"]) == (1, 1, 0)


def test_windows_and_variants(tmp_path):
    folder = tmp_path / "ecgs"
    folder.mkdir()
    long_record = ecg_like(seconds=25.0, seed=2)
    write_wfdb(folder, "long", long_record)
    out = tmp_path / "out"
    tensorize(find_inputs([folder]), out, TensorizeSettings(
        variants=("pclr", "lead_II"), windows="all"), workers=1, progress=False)
    labels = pd.read_csv(out / "labels.csv")
    assert labels.ecg_id.tolist() == ["long", "long#w1"]  # relative to the folder given
    with h5py.File(out / "shards" / "shard-00000.h5", "r") as f:
        assert f["ecg/pclr"].shape == (2, 4096, 12) and f["ecg/lead_II"].shape == (2, 2500, 1)
        second = f["ecg/pclr"][1]
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    np.testing.assert_allclose(second, preprocess_ecg(long_record[5000:10000], 500, names),
                               atol=1e-3)


def test_two_workers_write_what_one_writes(tmp_path):
    manifest_path, data, _ = ptbxl_manifest(tmp_path, rows=40)
    args = ["tensorize", "--manifest", str(manifest_path), "--path-column", "path_lr",
            "--path-root", str(data), "--shard-size", "10"]
    assert pclr_main(args + ["--out", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert pclr_main(args + ["--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    assert_same_output(tmp_path / "one", tmp_path / "two")


def assert_same_output(first, second):
    for name in ("labels.csv", "index.csv", "errors.csv", "summary.json"):
        assert (first / name).read_text() == (second / name).read_text(), name
    shards = sorted(p.name for p in (first / "shards").iterdir())
    assert shards == sorted(p.name for p in (second / "shards").iterdir())
    for shard in shards:
        with h5py.File(first / "shards" / shard) as a, h5py.File(second / "shards" / shard) as b:
            assert set(a) == set(b) and a.attrs["digest"] == b.attrs["digest"]
            np.testing.assert_array_equal(a["ecg/pclr"][()], b["ecg/pclr"][()])
            assert list(a["ecg_id"].asstr()) == list(b["ecg_id"].asstr())


# `pclr tensorize ARGS...` that pauses DELAY s after each shard it writes, so a
# kill lands mid-run, and names each shard it writes on stdout.
SLOWED_TENSORIZE = textwrap.dedent("""
    import os, sys, time
    from pclr_keras.cli import main
    from pclr_keras.tensorize import tensorize
    module = sys.modules[tensorize.__module__]  # where tensorize() finds process_shard
    process_shard = module.process_shard
    def slow_process_shard(path, *args, **kwargs):
        done = process_shard(path, *args, **kwargs)
        print("shard written:", os.path.basename(path), flush=True)
        time.sleep(float(sys.argv[1]))
        return done
    module.process_shard = slow_process_shard
    sys.exit(main(sys.argv[2:]))
""")


def written_shards(out):
    return sorted(path.name for path in (out / "shards").glob("shard-*.h5"))


def test_killed_run_resumes_to_the_same_output(tmp_path):
    manifest_path, data, _ = ptbxl_manifest(tmp_path, rows=120)
    args = ["tensorize", "--manifest", str(manifest_path), "--path-column", "path_lr",
            "--path-root", str(data), "--shard-size", "8", "--workers", "1"]
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", SLOWED_TENSORIZE, "0.3", *args,
                                "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None and len(written_shards(killed)) < 3:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended (or failed) before the kill"
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = written_shards(killed)
    assert 3 <= len(before) < 15, f"the kill should land mid-run: {len(before)} of 15 shards"
    assert not (killed / "summary.json").exists()

    resumed = subprocess.run([sys.executable, "-c", SLOWED_TENSORIZE, "0", *args,
                              "--out", str(killed)], check=True, capture_output=True, text=True)
    rewritten = [line.split(": ", 1)[1] for line in resumed.stdout.splitlines()
                 if line.startswith("shard written: ")]
    assert pclr_main(args + ["--out", str(tmp_path / "whole")]) == 0
    every = written_shards(tmp_path / "whole")
    assert len(every) == 15
    assert rewritten == [name for name in every if name not in before]  # the rest is kept
    assert_same_output(killed, tmp_path / "whole")
    assert not list(killed.rglob(".*tmp"))


def test_real_sph_files_with_all_windows(tmp_path):
    """SPH HDF5 (lead-first float16, 10-15 s): one whole 10 s window each."""
    sph = require_shared("data/sph")
    summary = tensorize(find_inputs([sph]), tmp_path / "out", TensorizeSettings(windows="all"),
                        workers=1, progress=False)
    labels = pd.read_csv(tmp_path / "out" / "labels.csv")
    assert summary["tensorized"] == 10 and summary["rejected"] == {}
    assert sorted(os.path.basename(i) for i in labels.ecg_id) == \
        [f"SPH{n:05d}" for n in range(1, 11)]
    assert set(labels.fs_original) == {500.0}
    assert labels.n_samples_original.between(5000, 7500).all()


def test_multi_ecg_file_gives_one_row_per_exam(tmp_path):
    """CODE layout: several exams in one file, each its own id; a 7 s exam is too short."""
    tracings = np.zeros((3, 4096, 12), np.float32)
    tracings[0, 48:4048] = ecg_like(fs=400.0, seed=1)
    tracings[1, 48:4048] = ecg_like(fs=400.0, seed=2)
    tracings[2, 648:3448] = ecg_like(seconds=7.0, fs=400.0, seed=3)
    with h5py.File(tmp_path / "exams.hdf5", "w") as f:
        f["tracings"] = tracings
        f["exam_id"] = np.array([101, 102, 103])
    summary = tensorize(find_inputs([tmp_path / "exams.hdf5"]), tmp_path / "out",
                        workers=1, progress=False)
    labels = pd.read_csv(tmp_path / "out" / "labels.csv")
    assert [i.rsplit("#", 1)[1] for i in labels.ecg_id] == ["exam_id=101", "exam_id=102"]
    assert summary["rejected"] == {"too_short": 1}
    errors = pd.read_csv(tmp_path / "out" / "errors.csv")
    assert errors.source.tolist() == ["exams.hdf5#exam_id=103"]  # a file given: its name


def test_leads_gives_files_without_names_their_order_and_reduced_leads_zeros(tmp_path):
    order = list(STANDARD_LEADS[6:]) + list(STANDARD_LEADS[:6])  # as a device stores them
    signal = ecg_like(seed=3)
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "a.npy", signal)
    args = ["tensorize", "--data", str(tmp_path / "in"), "--fs", "500", "--workers", "1"]
    assert pclr_main([*args, "--out", str(tmp_path / "full"), "--leads", ",".join(order)]) == 0
    labels = pd.read_csv(tmp_path / "full" / "labels.csv")
    assert labels["leads"].tolist() == [",".join(STANDARD_LEADS)]
    with h5py.File(tmp_path / "full" / "shards" / "shard-00000.h5") as f:
        full = f["ecg/pclr"][0]
    np.testing.assert_array_equal(full, preprocess_ecg(signal, 500, order))
    # Naming every lead is the strict case: digested as before `--leads` existed.
    assert TensorizeSettings(leads_present=",".join(order)).basis() == TensorizeSettings().basis()

    np.save(tmp_path / "in" / "a.npy", signal[:, :6])  # a pocket device: six columns
    assert pclr_main([*args, "--out", str(tmp_path / "limb"), "--leads", "limb"]) == 0
    with h5py.File(tmp_path / "limb" / "shards" / "shard-00000.h5") as f:
        limb = f["ecg/pclr"][0]
    np.testing.assert_array_equal(
        limb, preprocess_ecg(signal[:, :6], 500, STANDARD_LEADS[:6], leads_present="limb"))
    assert not limb[:, 6:].any()
    assert pd.read_csv(tmp_path / "limb" / "labels.csv")["leads"].tolist() == \
        [",".join(STANDARD_LEADS[:6])]
    assert TensorizeSettings(leads_present="limb").basis() != TensorizeSettings().basis()
