"""The runner table: every runner of a command takes the same call, checks what only it
needs, and Beam is imported only when a Beam runner runs."""

import subprocess
import sys

import pytest

from pclr_keras.cli import build_parser
from pclr_keras.pipelines import BEAM_MISSING, RUNNERS, BeamMissing


def test_tensorize_and_embed_run_locally_or_on_beam_and_the_cli_offers_exactly_those():
    assert {command: list(runners) for command, runners in RUNNERS.items()} == {
        "tensorize": ["local", "beam"], "embed": ["local", "beam"]}
    parse = build_parser().parse_args
    assert parse(["embed", "--model", "m", "--data", "d", "--out", "o.parquet"]).runner == "local"
    assert parse(["tensorize", "d", "--out", "o", "--runner", "beam"]).runner == "beam"
    with pytest.raises(SystemExit):
        parse(["tensorize", "d", "--out", "o", "--runner", "spark"])


def test_importing_the_pipelines_imports_no_beam():
    code = ("import sys, pclr_keras.pipelines, pclr_keras.cli; "
            "sys.exit(1 if 'apache_beam' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_beam_embed_refuses_a_shard_or_a_tensorized_folder_before_needing_beam(
        monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # as if not installed
    tensorized = tmp_path / "tensors"
    (tensorized / "shards").mkdir(parents=True)
    (tensorized / "labels.csv").write_text("ecg_id\n")
    run = RUNNERS["embed"]["beam"]
    for data, shard in (([str(tmp_path)], "1/2"), ([str(tensorized)], "0/1")):
        with pytest.raises(ValueError, match="Beam splits the work itself"):
            run("m.keras", data, tmp_path / "e.parquet", shard=shard, beam_options="")
    with pytest.raises(BeamMissing) as raised:
        run("m.keras", [str(tmp_path)], tmp_path / "e.parquet", shard="0/1", beam_options="")
    assert isinstance(raised.value, ImportError) and str(raised.value) == BEAM_MISSING
    with pytest.raises(BeamMissing):
        RUNNERS["tensorize"]["beam"]([str(tmp_path)], tmp_path / "t", None, beam_options="")


def test_local_embed_passes_one_source_as_is_and_parses_the_shard(monkeypatch):
    import pclr_keras.embedding

    calls = []
    monkeypatch.setattr(pclr_keras.embedding, "embed",
                        lambda *args, **kwargs: calls.append((args, kwargs)) or {"ok": 1})
    run = RUNNERS["embed"]["local"]
    assert run("m.keras", ["a"], "o.parquet", shard="1/4", beam_options="--x=1",
               batch_size=8) == {"ok": 1}
    run("m.keras", ["a", "b"], "o.parquet", shard="0/1", beam_options="")
    assert calls == [(("m.keras", "a", "o.parquet"), {"shard": (1, 4), "batch_size": 8}),
                     (("m.keras", ["a", "b"], "o.parquet"), {"shard": (0, 1)})]
    with pytest.raises(ValueError, match="--shard must look like i/n"):
        run("m.keras", ["a"], "o.parquet", shard="4/4", beam_options="")


def test_local_tensorize_reads_the_sources_files_then_the_listed_ones(monkeypatch, tmp_path):
    import pclr_keras.tensorize
    from pclr_keras.tensorize import TensorizeInput, TensorizeSettings

    (tmp_path / "a.hea").write_text("")
    listed = [TensorizeInput(str(tmp_path / "listed.xml"), "P1")]
    calls = []
    monkeypatch.setattr(pclr_keras.tensorize, "tensorize",
                        lambda *args, **kwargs: calls.append((args, kwargs)) or {"ok": 1})
    settings = TensorizeSettings()
    assert RUNNERS["tensorize"]["local"](
        [str(tmp_path)], "out", settings, listed=listed, planned_errors=[("x", "excluded", "")],
        shard_size=7, workers=1, beam_options="--x=1") == {"ok": 1}
    (inputs, out, given), options = calls[0]
    assert [item.path for item in inputs] == [str(tmp_path / "a.hea"), str(tmp_path / "listed.xml")]
    assert (out, given) == ("out", settings)
    assert options == {"planned_errors": [("x", "excluded", "")], "shard_size": 7, "workers": 1}
