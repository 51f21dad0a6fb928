"""The PTB-XL sample a wheel carries: which ECGs, their bytes, and its attribution."""

import csv
import hashlib
import io
import random
import shutil
import tarfile
from pathlib import Path

import pytest

from conftest import require_shared
from pclr_keras.datasets.sample_build import (
    ARCHIVE, ATTRIBUTION, MANIFEST_COLUMNS, SOURCE_VARIABLE, SampleSourceError, build_sample,
    find_source, read_record_files, select_records)

ROOT = Path(__file__).resolve().parents[2]


def _rows(patients):
    """Manifest rows: `patients` is (fold, patient id, ECGs, duplicates flagged)."""
    rows, ecg_id = [], 0
    for fold, patient, n, dropped in patients:
        for k in range(n):
            ecg_id += 1
            rows.append({"ecg_id": str(ecg_id), "patient_id": patient, "strat_fold": str(fold),
                         "in_v1_0_3": "False" if k < dropped else "True"})
    return rows


def _sha(patient):
    return hashlib.sha256(patient.encode()).hexdigest()


def test_selection_takes_whole_patients_in_hash_order_up_to_each_folds_count():
    # Fold 1: in hash order, take each patient whose ECGs still fit in the 3 places.
    fold_1 = [(1, p, n, 0) for p, n in [("11", 2), ("12", 1), ("13", 3), ("14", 1), ("15", 2)]]
    others = [(f, f"{f}0", 3, 0) for f in range(2, 11)]
    rows = _rows(fold_1 + others)
    expected, room = set(), 3
    for _, patient, n, _ in sorted(fold_1, key=lambda p: _sha(p[1])):
        if n <= room:
            expected.add(patient)
            room -= n
    chosen = select_records(rows, per_fold=3)
    assert {r["patient_id"] for r in chosen if r["strat_fold"] == "1"} == expected
    assert [int(r["ecg_id"]) for r in chosen] == sorted(int(r["ecg_id"]) for r in chosen)
    assert select_records(random.Random(0).sample(rows, len(rows)), per_fold=3) == chosen


def test_selection_leaves_out_ptbxl_1_0_3_duplicates_and_fails_on_a_short_fold():
    # Patient "d" has 3 ECGs, 2 of them flagged: its one kept ECG fills fold 1's place.
    rows = _rows([(1, "d", 3, 2)] + [(f, f"{f}0", 1, 0) for f in range(2, 11)])
    chosen = select_records(rows, per_fold=1)
    assert all(r["in_v1_0_3"] == "True" for r in chosen) and len(chosen) == 10
    with pytest.raises(SampleSourceError, match="^fold 1 has too few ECGs for 2$"):
        select_records(rows, per_fold=2)


def _members(archive):
    with tarfile.open(archive, mode="r:xz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """The sample exactly as a wheel build makes it, and its source."""
    source = require_shared("data/ptbxl")
    return build_sample(source, tmp_path_factory.mktemp("packaged")), source


def test_the_packaged_sample_is_400_unchanged_ptbxl_records_across_all_folds(packaged):
    archive, source = packaged
    members = _members(archive)
    manifest = list(csv.DictReader(io.StringIO(members["manifest.csv"].decode())))
    assert tuple(manifest[0]) == MANIFEST_COLUMNS
    assert [sum(r["strat_fold"] == str(f) for r in manifest) for f in range(1, 11)] == [40] * 10
    with open(source / "manifest.csv", newline="") as f:
        flagged = {r["ecg_id"] for r in csv.DictReader(f) if r["in_v1_0_3"] == "False"}
    assert len(flagged) == 12 and not flagged & {r["ecg_id"] for r in manifest}
    per_patient = {}
    for row in manifest:
        per_patient[row["patient_id"]] = per_patient.get(row["patient_id"], 0) + 1
    repeat = sum(n >= 2 for n in per_patient.values())
    assert repeat >= 150
    for page in ("README.md", "docs/set-up.md"):  # the numbers the documentation gives
        text = " ".join((ROOT / page).read_text().split())
        assert "400 PTB-XL ECGs" in text or "400 of PTB-XL's" in text, page
        assert f"{repeat} patients with repeat ECGs" in text or \
            f"{len(per_patient)} patients, {repeat} of them" in text, page
    for row in manifest:  # PTB-XL's files, byte for byte
        for suffix in (".hea", ".dat"):
            original = (source / f"{row['path']}{suffix}").read_bytes()
            assert members[f"{row['path']}{suffix}"] == original
    assert len(members) == 2 * 400 + 3  # + manifest, attribution, licence
    assert members["LICENSE.txt"] == (source / "LICENSE.txt").read_bytes()
    assert archive.stat().st_size < 5_000_000


def test_the_attribution_credits_ptbxl_and_states_the_changes(packaged):
    archive, _ = packaged
    text = (archive.parent / ATTRIBUTION).read_text()
    assert _members(archive)[ATTRIBUTION] == text.encode()
    for needed in ("400 ECGs of", "Wagner, P., Strodthoff, N.", "10.13026/kfzx-aw45",
                   "CC BY 4.0", "## Changes made", "removed as duplicates are left out",
                   "40 from each\n  of the ten `strat_fold`s", "4,377 records"):
        assert needed in text, needed


def test_two_builds_give_the_same_bytes(tmp_path):
    source = require_shared("data/ptbxl")
    first = build_sample(source, tmp_path / "a", per_fold=2).read_bytes()
    assert build_sample(source, tmp_path / "b", per_fold=2).read_bytes() == first


def test_a_record_that_does_not_match_its_header_stops_the_build(tmp_path):
    source = require_shared("data/ptbxl")
    copy = tmp_path / "ptbxl" / "records100" / "00000"
    copy.mkdir(parents=True)
    for suffix in (".hea", ".dat"):
        shutil.copy(source / f"records100/00000/00001_lr{suffix}", copy)
    read_record_files(tmp_path / "ptbxl", "ptbxl/records100/00000/00001_lr")  # as copied
    signal = bytearray((copy / "00001_lr.dat").read_bytes())
    signal[0] ^= 1
    (copy / "00001_lr.dat").write_bytes(bytes(signal))
    with pytest.raises(SampleSourceError, match=r"00001_lr: lead 1 does not match its header$"):
        read_record_files(tmp_path / "ptbxl", "ptbxl/records100/00000/00001_lr")


def test_a_folder_without_the_manifest_is_named(tmp_path):
    with pytest.raises(SampleSourceError, match=f"^{tmp_path}/manifest.csv: not found"):
        build_sample(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / ARCHIVE).exists()


def test_the_source_is_the_variable_else_shared_beside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(SOURCE_VARIABLE, raising=False)
    assert find_source(tmp_path / "clone") is None
    (tmp_path / "shared" / "data" / "ptbxl").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "ptbxl" / "manifest.csv").write_text("path_lr\n")
    assert find_source(tmp_path / "clone") == tmp_path / "shared" / "data" / "ptbxl"
    monkeypatch.setenv(SOURCE_VARIABLE, str(tmp_path / "elsewhere"))
    assert find_source(tmp_path / "clone") == tmp_path / "elsewhere"
