"""`pclr` keeps TensorFlow's start-up lines off stderr unless --verbose."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from conftest import NARROW_ENCODER

# TensorFlow's C++ log lines (`I0000 00:00:17...  123 port.cc:153] ...`), and its cuInit error.
TF_LOG_LINE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\] ", re.MULTILINE)
BEAM_INFO = re.compile(r"^INFO:", re.MULTILINE)


@pytest.fixture(scope="module")
def narrow_embed_inputs(tmp_path_factory):
    from pclr_keras.export.artifacts import export_encoder
    from pclr_keras.models import build_encoder
    from pclr_keras.synthetic import write_cohort

    out = tmp_path_factory.mktemp("quiet")
    model = export_encoder(build_encoder("pclr", **NARROW_ENCODER), out, name="narrow",
                           formats=("h5",))["h5"]
    write_cohort(out / "records", patients=2, seed=0)
    return model, out / "records"


def _stderr(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def test_embed_is_quiet_by_default_and_verbose_on_request(narrow_embed_inputs, tmp_path):
    model, records = narrow_embed_inputs
    command = [sys.executable, "-m", "pclr_keras.cli"]
    embed = ["embed", "--model", str(model), "--data", str(records)]
    quiet = _stderr(command + embed + ["--out", "quiet.parquet"], tmp_path)
    assert not TF_LOG_LINE.search(quiet) and "cuInit" not in quiet, quiet
    assert "absl::InitializeLog" not in quiet and not BEAM_INFO.search(quiet), quiet
    assert (tmp_path / "quiet.parquet").is_file()
    # What plain TensorFlow prints here, --verbose shows (nothing is hidden).
    plain = _stderr([sys.executable, "-c", "import tensorflow as tf; tf.constant(1) + 1"],
                    tmp_path)
    for flags in (["--verbose"] + embed, embed + ["--verbose"]):
        verbose = _stderr(command + flags + ["--out", "verbose.parquet"], tmp_path)
        assert bool(TF_LOG_LINE.search(verbose)) == bool(TF_LOG_LINE.search(plain)), verbose


def test_worker_processes_start_up_lines_are_dropped_and_the_rest_passes(capfd):
    from pclr_keras.cli.quiet import quiet_workers

    said = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\nI0000 00:00:1796668860.617135    6519 port.cc:153] oneDNN custom "
            "operations are on.\nINFO:__main__:Logging handler created.\nWARNING:root:apitools "
            "not found, and bigquery client libraries are not available\nTraceback: a real "
            "problem\nembedding 1/2\rembedding 2/2\r\n")
    worker = [sys.executable, "-c", f"import sys; sys.stderr.write({said!r})"]
    with quiet_workers(verbose=False):
        subprocess.run(worker, check=True, timeout=60)
    assert capfd.readouterr().err == "Traceback: a real problem\nembedding 1/2\rembedding 2/2\r\n"
    with quiet_workers(verbose=True):
        subprocess.run(worker, check=True, timeout=60)
    assert capfd.readouterr().err == said


@pytest.mark.skipif(importlib.util.find_spec("apache_beam") is None,
                    reason="Apache Beam is not installed: pip install -e '.[dev,beam]'")
def test_beam_workers_are_quiet_by_default(narrow_embed_inputs, tmp_path):
    model, records = narrow_embed_inputs
    embed = [sys.executable, "-m", "pclr_keras.cli", "embed", "--model", str(model), "--data",
             str(records), "--runner", "beam", "--beam-options=--direct_num_workers=2"]
    quiet = _stderr(embed + ["--out", "quiet.parquet"], tmp_path)
    assert quiet == "", quiet
    verbose = _stderr(embed + ["--out", "verbose.parquet", "--verbose"], tmp_path)
    assert TF_LOG_LINE.search(verbose) and BEAM_INFO.search(verbose), verbose
