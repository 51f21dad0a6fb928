"""Exit codes that tell the truth (README: Exit codes): a run that read nothing or
produced nothing fails with one clear line, a half-bad folder succeeds with its
counts, and --fail-on-errors / --max-error-rate make that stricter."""

import json

import keras
import pytest

from conftest import NARROW_ENCODER
from ecg_files import ecg_like, write_wfdb
from pclr_keras.export.artifacts import export_encoder
from pclr_keras.cli import main as pclr_main
from pclr_keras.models import build_encoder
from pclr_keras.cli.exits import one_line, report_failure
from pclr_keras.outcome import FAILED, OK, USAGE, outcome


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp("model")
    return str(export_encoder(build_encoder("pclr", **NARROW_ENCODER), out, name="narrow",
                              formats=("keras",))["keras"])


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """empty/, unreadable/ (two bad files) and half/ (two good records, two bad files)."""
    root = tmp_path_factory.mktemp("inputs")
    (root / "empty").mkdir()
    for name in ("unreadable", "half"):
        folder = root / name
        folder.mkdir()
        (folder / "cut.xml").write_text("<restingecgdata>")
        (folder / "junk.hea").write_text("not a header\n")
    for seed in range(2):
        write_wfdb(root / "half", f"good{seed}", ecg_like(seed=seed))
    return root


def commands(model, data, out):
    """The same input through tensorize and embed: (argv, summary file)."""
    return [(["tensorize", "--data", str(data), "--out", str(out / "t"), "--workers", "1"],
             out / "t" / "summary.json"),
            (["embed", "--model", model, "--data", str(data), "--out", str(out / "e.parquet")],
             out / "e.parquet.summary.json")]


def exit_status(argv, capsys):
    """(status, the line saying why) of `pclr argv`: its one stderr line naming the
    command (progress bars aside), or "" when there is none."""
    try:
        status = pclr_main(argv)
    except SystemExit as stopped:
        status = stopped.code
    said = [line for line in capsys.readouterr().err.splitlines()
            if line.startswith(f"pclr {argv[0]}")]
    assert len(said) <= 1, said
    return status, said[0] if said else ""


@pytest.mark.parametrize("case, words", [
    ("empty", "no ECG found in the inputs given"),
    ("unreadable", "none of the 2 ECG(s) found could be used (2 unreadable)")])
def test_nothing_read_or_produced_fails_with_one_line_and_a_summary(
        model, folders, tmp_path, capsys, case, words):
    for argv, summary in commands(model, folders / case, tmp_path):
        status, line = exit_status(argv, capsys)
        assert status == FAILED, argv
        assert line.startswith(f"pclr {argv[0]}: ") and words in line
        assert json.loads(summary.read_text())["ecgs_found"] == (0 if case == "empty" else 2)
    # nothing produced: no output claims otherwise, and no empty table is left
    said = capsys.readouterr().out
    assert "Tensorized into" not in said and "PCLR representations ->" not in said
    assert not (tmp_path / "e.parquet").exists()
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["errors.csv", "summary.json"]
    if case == "unreadable":
        assert (tmp_path / "e.parquet.errors.csv").read_text().count(",unreadable,") == 2


def test_a_missing_path_is_a_usage_error(model, tmp_path, capsys):
    missing = tmp_path / "nope" / "ecgs"
    for argv, summary in commands(model, missing, tmp_path):
        status, line = exit_status(argv, capsys)
        assert (status, line) == (USAGE, f"pclr {argv[0]}: error: {missing}: no such file or "
                                         "folder")
        assert not summary.exists()
    status, line = exit_status(["tensorize", str(missing), "--out", str(tmp_path / "t")], capsys)
    assert status == USAGE and str(missing) in line  # the positional form too


def test_half_bad_folder_succeeds_with_counts_unless_asked_stricter(model, folders, tmp_path,
                                                                    capsys):
    for argv, summary in commands(model, folders / "half", tmp_path):
        assert pclr_main(argv) == OK
        assert "rejected" in capsys.readouterr().out  # the counts are printed
        counts = json.loads(summary.read_text())
        assert counts["ecgs_found"] == 4 and counts["rejected"] == {"unreadable": 2}
        status, line = exit_status(argv + ["--fail-on-errors"], capsys)
        assert status == FAILED and "2 of 4 ECGs rejected (50.0%)" in line
        assert exit_status(argv + ["--max-error-rate", "0.5"], capsys) == (OK, "")
        assert exit_status(argv + ["--max-error-rate", "0.4"], capsys)[0] == FAILED


@pytest.mark.parametrize("out", ["emb/", "a_folder"])
def test_embed_out_that_is_a_folder_is_refused(model, folders, tmp_path, capsys, monkeypatch,
                                              out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_folder").mkdir()
    status, line = exit_status(["embed", "--model", model, "--data", str(folders / "half"),
                                "--out", out], capsys)
    assert status == USAGE and "this command writes a file" in line and out in line
    assert not (tmp_path / "emb").exists() and not any((tmp_path / "a_folder").iterdir())


def test_a_model_that_is_no_pclr_encoder_is_a_usage_error(folders, tmp_path, capsys):
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="other").save(other)
    status, line = exit_status(["embed", "--model", str(other), "--data", str(folders / "half"),
                                "--out", str(tmp_path / "e.parquet")], capsys)
    assert status == USAGE and "'other' has no 'embed' layer" in line
    assert not (tmp_path / "e.parquet").exists()


def test_outcome_rule():
    status, line = outcome(0, 0, {})
    assert status == FAILED and "no ECG found" in line
    assert outcome(3, 0, {"unreadable": 3})[0] == FAILED
    assert outcome(4, 3, {"unreadable": 1}) == (OK, "")
    assert outcome(4, 3, {"unreadable": 1}, max_error_rate=0.0)[0] == FAILED
    # rows a manifest's --drop-if excluded on purpose are no failure
    assert outcome(14, 2, {"excluded": 12}, max_error_rate=0.0) == (OK, "")
    assert outcome(14, 2, {"excluded": 11, "unreadable": 1}, max_error_rate=0.4) == (OK, "")
    assert outcome(14, 2, {"excluded": 11, "unreadable": 1}, max_error_rate=0.3)[0] == FAILED


def test_embed_on_beam_with_a_shard_or_a_tensorized_folder_is_a_usage_error(
        model, folders, tmp_path, capsys):
    tensorized = tmp_path / "tensors"
    (tensorized / "shards").mkdir(parents=True)
    (tensorized / "labels.csv").write_text("ecg_id\n")
    for data, shard in ((folders / "half", "1/2"), (tensorized, "0/1")):
        status, line = exit_status(["embed", "--model", model, "--data", str(data),
                                    "--out", str(tmp_path / "e.parquet"), "--shard", shard,
                                    "--runner", "beam"], capsys)
        assert (status, line) == (USAGE, "pclr embed: error: --runner beam embeds ECG files "
                                         "(no --shard, no tensorized folder): Beam splits "
                                         "the work itself.")


@pytest.mark.parametrize("error, status, line", [
    (PermissionError(13, "Permission denied", "ecgs/a.xml"), USAGE,
     "pclr embed: error: ecgs/a.xml: permission denied"),
    (FileNotFoundError("No model at 'x'. Presets:\n  name  version"), USAGE,
     "pclr embed: error: No model at 'x'."),
    (ValueError("labels.csv has no column 'age'"), FAILED,
     "pclr embed: error: labels.csv has no column 'age'"),
    (KeyError("age"), FAILED, "pclr embed: error: KeyError: age (--verbose shows where)"),
    (RuntimeError("the graph broke"), FAILED,
     "pclr embed: error: RuntimeError: the graph broke (--verbose shows where)"),
])
def test_an_error_becomes_one_line_and_its_status(capsys, error, status, line):
    with pytest.raises(SystemExit) as stopped:
        report_failure("embed", error)
    assert (stopped.value.code, capsys.readouterr().err) == (status, line + "\n")


def test_verbose_shows_an_unexpected_error_with_its_traceback():
    error = RuntimeError("the graph broke")
    with pytest.raises(RuntimeError):
        report_failure("embed", error, verbose=True)
    with pytest.raises(SystemExit):  # an error of a known kind stays one line
        report_failure("embed", ValueError("bad"), verbose=True)


def test_one_line_keeps_the_sentence_and_drops_what_it_introduces():
    assert one_line("Preset 'p' is not in the cache (offline). Download these files:\n  a\n"
                    ) == "Preset 'p' is not in the cache (offline)."
    assert one_line("No model at 'x'. Did you mean 'y'? Presets:\n  t") == (
        "No model at 'x'. Did you mean 'y'?")
    assert one_line("just one line") == "just one line"
