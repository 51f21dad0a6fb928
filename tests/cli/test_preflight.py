"""Every mistake on the command line is one line with README's exit status, found before
any model loads (README: Exit codes)."""

import os

import pytest

from pclr_keras.cli import main as pclr_main
from pclr_keras.outcome import FAILED, USAGE


def one_line(argv, capsys):
    """(exit status, stderr) of `pclr argv`, stderr asserted to be one line."""
    try:
        status = pclr_main(argv)
    except SystemExit as stopped:
        status = stopped.code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return status, err.strip()


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """tmp_path as the working folder, with an empty folder, a labels file and a file
    that is no model."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PCLR_OFFLINE", "1")
    monkeypatch.setenv("PCLR_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "labels.csv").write_text("ecg_id,patient_id,sex\n")
    (tmp_path / "junk.keras").write_text("not a model")
    return tmp_path


EMBED = ["embed", "--data", "empty", "--out", "e.parquet"]


@pytest.mark.parametrize("argv, status, line", [
    (["embed", "--modle", "m.h5", "--data", "empty", "--out", "e.parquet"], USAGE,
     "pclr embed: error: unrecognized option --modle; did you mean --model?"),
    (["embd", "--model", "m.h5"], USAGE,
     "pclr: error: unknown command 'embd'; did you mean embed?"),
    (["embed", "--runner", "bem"], USAGE,
     "pclr embed: error: argument --runner: unknown choice 'bem'; did you mean beam?"),
    (EMBED + ["--model", "missing.h5"], USAGE,
     "pclr embed: error: --model missing.h5: No model at 'missing.h5': not a file or folder, "
     "not a preset name, not an https:// or hf:// address. `pclr presets` lists the presets."),
    (EMBED + ["--model", "pclr-ptbx"], USAGE,
     "pclr embed: error: --model pclr-ptbx: No model at 'pclr-ptbx': not a file or folder, "
     "not a preset name, not an https:// or hf:// address. Did you mean 'pclr-ptbxl' or "
     "'pclr-ptbxl-v0.4' or 'pclr-ptbxl-v0.3'? `pclr presets` lists the presets."),
    (EMBED + ["--model", "pclr-ml4h"], FAILED,
     "pclr embed: error: --model pclr-ml4h: Preset 'pclr-ml4h' is not in the cache and could "
     "not be downloaded (PCLR_OFFLINE=1). `pclr presets pclr-ml4h` names the files to "
     "download and where to put them."),
    (["embed", "--model", "pclr-ptbxl", "--data", "nowhere", "--out", "e.parquet"], USAGE,
     "pclr embed: error: nowhere: no such file or folder"),
    (["probe", "--embeddings", "PCLR=pclr.parquet", "--labels", "labels.csv", "--target",
      "sex"], USAGE, "pclr probe: error: pclr.parquet: no such file or folder"),
    (["finetune", "--model", "pclr-ml4h", "--data", "empty", "--target", "sex",
      "--out", "t"], FAILED, None),
    (["experiment", "--data", "empty", "--model", "mine=nope.keras", "--out", "r"], USAGE,
     None),
])
def test_each_mistake_is_one_line_with_its_exit_status(inputs, capsys, argv, status, line):
    got_status, got_line = one_line(argv, capsys)
    assert got_status == status
    assert got_line == line if line else got_line.startswith(f"pclr {argv[0]}: error: --model")


def test_an_unreadable_input_folder_is_a_usage_error(inputs, capsys, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if str(path) == "empty"
                        else real_access(path, mode))  # tests may run as root
    assert one_line(EMBED + ["--model", "pclr-ptbxl"], capsys) == (
        USAGE, "pclr embed: error: empty: permission denied (this folder cannot be read)")


def test_an_empty_folder_is_reported_before_the_model_loads(inputs, capsys, monkeypatch):
    import pclr_keras.embedding.job as job

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(job, "resolve_model", no_loading)
    status, line = one_line(EMBED + ["--model", "pclr-ptbxl"], capsys)
    assert status == FAILED and line.startswith("pclr embed: no ECG found in the inputs given")


def test_a_file_that_is_no_model_fails_in_one_line(inputs, capsys):
    from ecg_files import ecg_like, write_wfdb

    (inputs / "ecgs").mkdir()
    write_wfdb(inputs / "ecgs", "one", ecg_like(seed=0))
    (inputs / "junk.h5").write_text("not HDF5")
    for junk, problem in (("junk.keras", "a .keras file is a zip archive, and this is not one"),
                          ("junk.h5", "not an HDF5 file")):
        argv = ["embed", "--model", junk, "--data", "ecgs", "--out", "e.parquet"]
        assert one_line(argv, capsys) == (
            FAILED, f"pclr embed: error: --model {junk}: cannot be read as a model: {problem}")
        assert not (inputs / "e.parquet").exists()
