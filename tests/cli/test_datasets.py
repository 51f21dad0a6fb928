"""`pclr datasets sample DIR`: the packaged PTB-XL sample, or one line saying there is none."""

import pandas as pd
import pytest

from pclr_keras.cli import main as pclr_main
from pclr_keras.datasets import sample
from sample_fixtures import PER_FOLD, small_sample  # noqa: F401 (fixture)


def test_sample_writes_the_records_and_says_what_to_run_next(small_sample, tmp_path,
                                                             monkeypatch, capsys):
    monkeypatch.setattr(sample, "PACKAGED_ARCHIVE", small_sample)
    out = tmp_path / "ptbxl_sample"
    assert pclr_main(["datasets", "sample", str(out)]) == 0
    assert capsys.readouterr().out == (
        f"Wrote {10 * PER_FOLD} PTB-XL ECGs to {out} (CC BY 4.0: see {out}/ATTRIBUTION.md). "
        f"Next:\n  pclr tensorize --manifest {out}/manifest.csv --out sample_tensors/\n")
    assert len(pd.read_csv(out / "manifest.csv")) == 10 * PER_FOLD
    assert pclr_main(["tensorize", "--manifest", str(out / "manifest.csv"),
                      "--out", str(tmp_path / "tensors")]) == 0
    labels = pd.read_csv(tmp_path / "tensors" / "labels.csv")
    assert len(labels) == 10 * PER_FOLD and labels.strat_fold.nunique() == 10


def test_without_a_packaged_sample_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sample, "PACKAGED_ARCHIVE", tmp_path / "absent.tar.xz")
    with pytest.raises(SystemExit) as raised:
        pclr_main(["datasets", "sample", str(tmp_path / "out")])
    assert raised.value.code == 1
    assert capsys.readouterr().err == (
        "pclr datasets sample: this installation carries no sample ECGs (no absent.tar.xz: it "
        "was built without PTB-XL beside its source or in PCLR_SAMPLE_SOURCE); get PTB-XL "
        "with `pclr datasets fetch ptbxl --rate 100`\n")


def test_a_file_for_the_folder_is_a_usage_error(small_sample, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sample, "PACKAGED_ARCHIVE", small_sample)
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as raised:
        pclr_main(["datasets", "sample", str(tmp_path / "file")])
    assert raised.value.code == 2
    assert capsys.readouterr().err == (
        f"pclr datasets sample: {tmp_path}/file: is a file; give a folder to write\n")


def test_a_folder_that_cannot_be_written_is_one_line_and_exit_1(small_sample, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.setattr(sample, "PACKAGED_ARCHIVE", small_sample)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "records100").write_text("")  # where a folder must go
    with pytest.raises(SystemExit) as raised:
        pclr_main(["datasets", "sample", str(tmp_path / "out")])
    assert raised.value.code == 1
    assert capsys.readouterr().err == (
        f"pclr datasets sample: {tmp_path}/out/records100/00000: Not a directory\n")


def test_sample_without_a_folder_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as raised:
        pclr_main(["datasets", "sample"])
    assert raised.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "pclr datasets: error: datasets sample needs a folder to write, "
        "e.g. `pclr datasets sample ptbxl_sample/`")
