"""`pclr datasets fetch`: checked, resumable downloads against a local server; manifests.

The server (`local_server.py`) binds 127.0.0.1 only and serves a temporary copy of a subset of
`../shared/data/ptbxl` (23 records at 100 Hz, 2 at 500 Hz) laid out as
PhysioNet does, with a `SHA256SUMS.txt` computed here. It records every
request's headers and can ignore Range or serve wrong bytes for a path.
"""

import hashlib
import io
import json
import shutil
import socket
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import require_shared
from local_server import serve  # noqa: F401 (a fixture)
from pclr_keras.datasets import DatasetError, fetch

IDS_100 = list(range(1, 21)) + [39, 45, 50]  # patient 13619 has 4 of these; 39: MI;STTC
IDS_500 = [1, 2]
METADATA = ("ptbxl_database.csv", "scp_statements.csv", "LICENSE.txt")
PREFIX = "files/ptb-xl/1.0.3"
QUICK = dict(progress=False, timeout=10, workers=4)


def record_files(ids, rate):
    folder = "records100" if rate == 100 else "records500"
    suffix = "lr" if rate == 100 else "hr"
    return [f"{folder}/00000/{i:05d}_{suffix}.{ext}" for i in ids for ext in ("hea", "dat")]


def write_sha256sums(folder, paths, extra=""):
    lines = [f"{hashlib.sha256((folder / p).read_bytes()).hexdigest()}  {p}" for p in paths]
    (folder / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n" + extra)


@pytest.fixture
def ptbxl_site(tmp_path, serve):
    """A PhysioNet-like copy of the subset: (base URL of the set, server state, shared folder)."""
    shared = require_shared("data/ptbxl")
    site = tmp_path / "site"
    folder = site / PREFIX
    paths = list(METADATA) + record_files(IDS_100, 100) + record_files(IDS_500, 500)
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / path, folder / path)
    write_sha256sums(folder, paths)
    url, state = serve(site)
    return f"{url}/{PREFIX}/", state, shared


def default_paths():
    return sorted(list(METADATA) + record_files(IDS_100, 100))


def test_full_fetch_gives_identical_files_and_a_manifest_with_patients(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)

    assert summary["failures"] == []
    assert summary["listed"] == len(METADATA) + 2 * (len(IDS_100) + len(IDS_500))
    assert summary["selected"] == summary["downloaded"] == len(default_paths())
    folder = tmp_path / "data" / "ptbxl"
    for path in default_paths():
        assert (folder / path).read_bytes() == (shared / path).read_bytes(), path
    assert not list(folder.rglob("*.part"))
    assert not (folder / "records500").exists()  # 100 Hz by default
    assert (folder / "SHA256SUMS.txt").is_file()

    manifest = pd.read_csv(folder / "manifest.csv", dtype={"patient_id": str})
    assert summary["manifest"] == str(folder / "manifest.csv")
    assert manifest.ecg_id.tolist() == IDS_100 == list(range(1, 21)) + [39, 45, 50]
    reference = pd.read_csv(shared / "manifest.csv").set_index("ecg_id").loc[IDS_100]
    assert manifest.path.tolist() == [p.removeprefix("ptbxl/") for p in reference.path_lr]
    assert manifest.patient_id.tolist() == reference.patient_id.astype(str).tolist()
    assert manifest.patient_id[0] == "15709"  # the CSV stores 15709.0
    for column in ("age", "sex", "strat_fold", "scp_codes", "recording_date"):
        assert manifest[column].tolist() == reference[column].tolist(), column
    assert manifest.diagnostic_superclass.fillna("").tolist() == \
        reference.diagnostic_superclass.fillna("").tolist()
    superclass = dict(zip(manifest.ecg_id, manifest.diagnostic_superclass.fillna("")))
    assert (superclass[1], superclass[8], superclass[17], superclass[39], superclass[50]) == \
        ("NORM", "MI", "", "MI;STTC", "CD;MI")
    assert summary["manifest_rows"] == len(IDS_100)
    assert summary["patients"] == reference.patient_id.nunique() == manifest.patient_id.nunique()


def test_rate_500_fetches_and_lists_the_500_hz_records(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, rate=500, **QUICK)
    assert summary["failures"] == []
    manifest = pd.read_csv(tmp_path / "data" / "ptbxl" / "manifest.csv")
    assert manifest.path.tolist() == ["records500/00000/00001_hr", "records500/00000/00002_hr"]
    assert not (tmp_path / "data" / "ptbxl" / "records100").exists()
    with pytest.raises(DatasetError, match="rates: 100, 500"):
        fetch("ptbxl", tmp_path / "data", base_url=base_url, rate=250, **QUICK)


def test_include_patterns_select_files_and_keep_the_metadata(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url,
                    include=["records100/00000/0000[1-3]_lr.*"], **QUICK)
    assert summary["selected"] == 6 + 2  # 3 records + the two tables the manifest needs
    manifest = pd.read_csv(tmp_path / "data" / "ptbxl" / "manifest.csv")
    assert manifest.ecg_id.tolist() == [1, 2, 3]


RECORD = "records100/00000/00001_lr.dat"


def partial(tmp_path, shared, content):
    part = tmp_path / "data" / "ptbxl" / (RECORD + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(content)
    return part


def test_partial_file_is_completed_with_a_range_request(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    whole = (shared / RECORD).read_bytes()
    part = partial(tmp_path, shared, whole[:1000])
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)

    assert summary["failures"] == [] and summary["resumed"] == 1
    [(headers, status)] = state.requests_for(RECORD)
    assert headers.get("Range") == "bytes=1000-" and status == 206
    assert (tmp_path / "data" / "ptbxl" / RECORD).read_bytes() == whole
    assert not part.exists()
    others = [h for p, h, s in state.requests if not p.endswith(RECORD)]
    assert all("Range" not in h for h in others)


def test_transfer_cut_off_midway_is_resumed_from_where_it_stopped(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    whole = (shared / RECORD).read_bytes()
    state.cut_short.add(f"{PREFIX}/{RECORD}")
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)

    assert summary["failures"] == [] and summary["resumed"] == 1
    (first, s1), (second, s2) = state.requests_for(RECORD)
    assert ("Range" not in first, s1) == (True, 200)
    assert (second.get("Range"), s2) == (f"bytes={len(whole) // 2}-", 206)
    assert (tmp_path / "data" / "ptbxl" / RECORD).read_bytes() == whole


def test_server_ignoring_range_still_gives_the_right_file(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    state.ignore_range = True
    whole = (shared / RECORD).read_bytes()
    partial(tmp_path, shared, whole[:1000])
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)

    assert summary["failures"] == []
    [(headers, status)] = state.requests_for(RECORD)
    assert headers.get("Range") == "bytes=1000-" and status == 200
    assert (tmp_path / "data" / "ptbxl" / RECORD).read_bytes() == whole


def test_complete_partial_file_answered_416_is_checked_and_kept(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    whole = (shared / RECORD).read_bytes()
    partial(tmp_path, shared, whole)
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)

    assert summary["failures"] == []
    [(headers, status)] = state.requests_for(RECORD)
    assert headers.get("Range") == f"bytes={len(whole)}-" and status == 416
    assert (tmp_path / "data" / "ptbxl" / RECORD).read_bytes() == whole


def test_damaged_partial_file_is_discarded_and_fetched_whole(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    whole = (shared / RECORD).read_bytes()
    partial(tmp_path, shared, b"\0" * 1000)
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)

    assert summary["failures"] == []
    (first, s1), (second, s2) = state.requests_for(RECORD)
    assert (first.get("Range"), s1) == ("bytes=1000-", 206)
    assert ("Range" not in second, s2) == (True, 200)
    assert (tmp_path / "data" / "ptbxl" / RECORD).read_bytes() == whole


def test_corrupted_served_file_is_reported_and_not_kept(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    bad = "records100/00000/00003_lr.dat"
    state.corrupt.add(f"{PREFIX}/{bad}")
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url,
                    tensorize_out=tmp_path / "tensors", **QUICK)

    [failure] = summary["failures"]
    assert failure["path"] == bad and failure["url"] == base_url + bad
    assert "sha256 mismatch" in failure["error"] and "2 attempts" in failure["error"]
    assert len(state.requests_for(bad)) == 2  # one retry, then reported
    folder = tmp_path / "data" / "ptbxl"
    assert not (folder / bad).exists() and not (folder / (bad + ".part")).exists()
    assert summary["downloaded"] == len(default_paths()) - 1
    manifest = pd.read_csv(folder / "manifest.csv")
    assert 3 not in manifest.ecg_id.tolist() and len(manifest) == len(IDS_100) - 1
    assert summary["tensorize"] is None and "failed" in summary["tensorize_skipped"]
    assert not (tmp_path / "tensors").exists()

    state.corrupt.clear()  # the server is fixed: a re-run completes the set
    again = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)
    assert again["failures"] == [] and again["downloaded"] == 1
    assert (folder / bad).read_bytes() == (shared / bad).read_bytes()


def test_rerun_skips_verified_files_and_replaces_a_damaged_one(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)
    assert len(state.requests) == 1 + len(default_paths())

    state.requests.clear()
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)
    assert [p for p, h, s in state.requests] == [f"{PREFIX}/SHA256SUMS.txt"]
    assert summary["present"] == len(default_paths()) and summary["downloaded"] == 0

    damaged = tmp_path / "data" / "ptbxl" / RECORD
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    state.requests.clear()
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url, **QUICK)
    assert sorted(p for p, h, s in state.requests) == [f"{PREFIX}/SHA256SUMS.txt",
                                                       f"{PREFIX}/{RECORD}"]
    assert summary["downloaded"] == 1 and damaged.read_bytes() == (shared / RECORD).read_bytes()


def test_http_errors_are_reported_per_file_with_the_url(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    sums = Path(state.root / PREFIX / "SHA256SUMS.txt")
    sums.write_text(sums.read_text() + f"{'0' * 64}  records100/00000/99999_lr.hea\n"
                                       f"{'0' * 64}  ../../escape.txt\n")
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url,
                    include=["records100/*", "../*"], **QUICK)
    failures = {f["path"]: f for f in summary["failures"]}
    assert set(failures) == {"records100/00000/99999_lr.hea", "../../escape.txt"}
    missing = failures["records100/00000/99999_lr.hea"]
    assert "HTTP 404" in missing["error"] and missing["url"] == \
        base_url + "records100/00000/99999_lr.hea"
    assert len(state.requests_for("99999_lr.hea")) == 1  # 4xx: not retried
    assert "unsafe path" in failures["../../escape.txt"]["error"]
    assert not list(tmp_path.rglob("escape.txt"))
    assert summary["downloaded"] == 2 * len(IDS_100) + 2


def test_unknown_dataset_missing_checksums_and_network_failure_are_clear(tmp_path, serve):
    with pytest.raises(DatasetError, match="(?s)unknown data set 'ptb'.*ptbxl.*ludb.*code15"):
        fetch("ptb", tmp_path, **QUICK)

    (tmp_path / "empty").mkdir()
    url, state = serve(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"SHA256SUMS\.txt could not be fetched: HTTP 404"):
        fetch("ptbxl", tmp_path / "data", base_url=url, **QUICK)

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetError, match=rf"network failure fetching "
                                           rf"http://127\.0\.0\.1:{port}/SHA256SUMS\.txt"):
        fetch("ptbxl", tmp_path / "data", base_url=f"http://127.0.0.1:{port}", **QUICK)


def test_tensorize_out_gives_tensors_with_patient_ids(tmp_path, ptbxl_site):
    base_url, state, shared = ptbxl_site
    summary = fetch("ptbxl", tmp_path / "data", base_url=base_url,
                    tensorize_out=tmp_path / "tensors", tensorize_workers=1, **QUICK)
    manifest = pd.read_csv(tmp_path / "data" / "ptbxl" / "manifest.csv",
                           dtype={"patient_id": str})
    result = summary["tensorize"]
    assert result["tensorized"] == result["ecgs_found"] == len(IDS_100)
    assert result["patients"] == manifest.patient_id.nunique()
    assert result["patients_with_2_or_more_ecgs"] >= 1  # patient 13619
    labels = pd.read_csv(tmp_path / "tensors" / "labels.csv", dtype={"patient_id": str})
    assert labels.patient_id.tolist() == manifest.patient_id.tolist()
    assert labels.ecg_id.tolist() == IDS_100
    assert labels.diagnostic_superclass.fillna("").tolist() == \
        manifest.diagnostic_superclass.fillna("").tolist()
    index = pd.read_csv(tmp_path / "tensors" / "index.csv", dtype={"patient_id": str})
    assert (index.patient_id == "13619").sum() == 4  # ecg_id 17, 18, 20, 39


def code15_tracings(exams):
    tracings = np.zeros((exams + 1, 4096, 12), np.float32)  # + CODE's zero padding row
    tracings[:exams, 48:4048] = np.random.default_rng(0).normal(0, 0.3, (exams, 4000, 12))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f["tracings"] = tracings
        f["exam_id"] = np.array([101, 102, 103, 0][:exams] + [0], np.int64)
    return buffer.getvalue()


def test_code15_is_checked_with_zenodo_md5s_and_unzipped(tmp_path, serve):
    site = tmp_path / "site"
    files = site / "records" / "4916206" / "files"
    files.mkdir(parents=True)
    hdf5 = code15_tracings(3)
    with zipfile.ZipFile(files / "exams_part0.zip", "w") as zf:
        zf.writestr("exams_part0.hdf5", hdf5)
    (files / "exams.csv").write_text("exam_id,age,is_male,patient_id,trace_file\n"
                                     "101,50,True,7,exams_part0.hdf5\n")
    entries = [{"key": p.name, "size": p.stat().st_size,
                "checksum": "md5:" + hashlib.md5(p.read_bytes()).hexdigest()}
               for p in sorted(files.iterdir())]
    entries.append({"key": "exams_part1.zip", "size": 10, "checksum": "md5:" + "0" * 32})
    api = site / "api" / "records"
    api.mkdir(parents=True)
    (api / "4916206").write_text(json.dumps({"id": 4916206, "files": entries}))
    url, state = serve(site)
    base_url = f"{url}/records/4916206/files/"

    summary = fetch("code15", tmp_path / "data", base_url=base_url, **QUICK)
    assert summary["checksums_url"] == f"{url}/api/records/4916206"
    [failure] = summary["failures"]
    assert failure["path"] == "exams_part1.zip" and "HTTP 404" in failure["error"]
    folder = tmp_path / "data" / "code15"
    assert (folder / "exams_part0.hdf5").read_bytes() == hdf5
    assert summary["extracted"] == 1 and summary["manifest"] is None

    from pclr_keras.io import iter_records
    assert [r.meta["ecg_id"] for r in iter_records(folder / "exams_part0.hdf5")] == [101, 102, 103]

    (folder / "exams.csv").write_text("damaged")
    summary = fetch("code15", tmp_path / "data", base_url=base_url, include="exams.csv", **QUICK)
    assert summary["failures"] == [] and summary["downloaded"] == 1
    assert (folder / "exams.csv").read_text().startswith("exam_id")

    with pytest.raises(DatasetError, match="patient id per input file"):
        fetch("code15", tmp_path / "data", base_url=base_url,
              tensorize_out=tmp_path / "tensors", **QUICK)


def test_ludb_manifest_has_one_patient_per_record(tmp_path, serve):
    shared = require_shared("data/ludb")
    folder = tmp_path / "site" / "files" / "ludb" / "1.0.1"
    paths = ["ludb.csv", "RECORDS", "LICENSE.txt"] + [
        f"data/{i}.{ext}" for i in (1, 2, 3) for ext in ("hea", "dat", "i")]
    for path in paths:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / path, folder / path)
    write_sha256sums(folder, paths)
    url, state = serve(tmp_path / "site")
    summary = fetch("ludb", tmp_path / "data", base_url=f"{url}/files/ludb/1.0.1", **QUICK)
    assert summary["failures"] == [] and summary["selected"] == 3 + 6  # no delineations
    manifest = pd.read_csv(tmp_path / "data" / "ludb" / "manifest.csv", dtype=str)
    reference = pd.read_csv(shared / "manifest.csv", dtype=str).iloc[:3]
    assert manifest.path.tolist() == ["data/1", "data/2", "data/3"]
    assert manifest.patient_id.tolist() == ["1", "2", "3"]
    for column in ("Sex", "Age", "Rhythms", "Hypertrophies"):
        assert manifest[column].fillna("").tolist() == reference[column].fillna("").tolist()


def test_cli_exit_codes_usage_for_unknown_names_failure_for_fetch_problems(tmp_path, serve,
                                                                            capsys):
    """As the bulk commands: 2 for a name or rate it does not know, 1 for a set it could
    not fetch, each with one line on stderr."""
    from pclr_keras.cli import main as pclr_main
    from pclr_keras.outcome import FAILED, USAGE

    def status(*argv):
        with pytest.raises(SystemExit) as stopped:
            pclr_main(["datasets", "fetch", *argv, "--root", str(tmp_path / "data")])
        return stopped.value.code, capsys.readouterr().err

    code, err = status("ptb")
    assert code == USAGE and "unknown data set 'ptb'" in err
    code, err = status("ptbxl", "--rate", "250")
    assert code == USAGE and "no rate 250" in err
    (tmp_path / "empty").mkdir()
    url, _ = serve(tmp_path / "empty")
    code, err = status("ptbxl", "--base-url", url)
    assert code == FAILED and "SHA256SUMS.txt could not be fetched: HTTP 404" in err
