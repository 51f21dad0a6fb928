"""`write_sample`: the packaged PTB-XL sample, written out as WFDB records and a manifest."""

import io
import tarfile

import numpy as np
import pandas as pd
import pytest
import wfdb

from conftest import require_shared
from pclr_keras.datasets import sample
from pclr_keras.datasets.sample import SampleMissingError, write_sample
from pclr_keras.tensorize import read_manifest
from sample_fixtures import PER_FOLD, small_sample  # noqa: F401 (fixture)


def test_the_sample_is_written_as_ptbxl_records_that_tensorize_reads(small_sample, tmp_path):
    written = write_sample(tmp_path / "s", small_sample)
    assert written == {"folder": tmp_path / "s", "manifest": tmp_path / "s" / "manifest.csv",
                       "ecgs": 10 * PER_FOLD}
    manifest = pd.read_csv(written["manifest"])
    source = require_shared("data/ptbxl")
    for path in manifest.path:  # the records read as PTB-XL's own
        got, original = wfdb.rdrecord(tmp_path / "s" / path), wfdb.rdrecord(source / path)
        assert np.array_equal(got.p_signal, original.p_signal) and got.p_signal.shape == (1000, 12)
        assert got.sig_name == original.sig_name and got.fs == 100
    inputs, excluded = read_manifest(written["manifest"])
    assert len(inputs) == 10 * PER_FOLD and not excluded
    assert {p.name for p in (tmp_path / "s").iterdir()} == {
        "records100", "manifest.csv", "ATTRIBUTION.md", "LICENSE.txt"}


def test_writing_again_replaces_the_same_files(small_sample, tmp_path):
    write_sample(tmp_path, small_sample)
    (tmp_path / "manifest.csv").write_text("changed")
    assert write_sample(tmp_path, small_sample)["ecgs"] == 10 * PER_FOLD
    assert (tmp_path / "manifest.csv").read_text().startswith("path,ecg_id,patient_id,")
    assert not list(tmp_path.rglob(".*.tmp"))


def test_an_installation_without_the_sample_says_how_to_get_data(tmp_path, monkeypatch):
    monkeypatch.setattr(sample, "PACKAGED_ARCHIVE", tmp_path / "ptbxl-sample.tar.xz")
    with pytest.raises(SampleMissingError) as raised:
        write_sample(tmp_path / "out")
    assert str(raised.value) == (
        "this installation carries no sample ECGs (no ptbxl-sample.tar.xz: it was built "
        "without PTB-XL beside its source or in PCLR_SAMPLE_SOURCE); get PTB-XL with "
        "`pclr datasets fetch ptbxl --rate 100`")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../outside.hea", "/etc/outside.hea"])
def test_an_archive_member_outside_the_folder_is_refused(tmp_path, name):
    archive = tmp_path / "bad.tar.xz"
    with tarfile.open(archive, mode="w:xz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"no"))
    with pytest.raises(ValueError, match=f"^{archive}: unexpected member '{name}'$"):
        write_sample(tmp_path / "out", archive)
    assert not (tmp_path / "outside.hea").exists()
