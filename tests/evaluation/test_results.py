"""Results files: figures with the provenance that lets a reader check them."""

import json
import subprocess

import numpy as np
import pytest

from pclr_keras import __version__
from pclr_keras.evaluation.results import (ecg_list_digest, portable_command, provenance,
                                           read_results, write_results, write_scores)


def test_a_results_file_records_how_its_figures_were_made(tmp_path, monkeypatch):
    argv = ["/home/someone/repo/benchmarks/ptbxl_protocol.py", "--data", "/srv/ward7/tensors",
            "--results=/home/someone/out.json", "--seed", "3"]
    about = provenance(ecg_ids=["3", "1", "2"], seeds={"seed": 3},
                       weights={"v0.3": {"weights_sha256": "ab" * 32}}, argv=argv)
    path = write_results(tmp_path / "r" / "x.json", "demo", {"value": np.float32(0.5),
                                                             "missing": float("nan")}, about)
    saved = read_results(path)
    assert saved["kind"] == "demo" and saved["value"] == 0.5 and saved["missing"] is None
    json.loads(path.read_text())  # strict JSON: no NaN
    recorded = saved["provenance"]
    assert recorded["command"] == ("ptbxl_protocol.py --data tensors --results=out.json "
                                   "--seed 3")
    assert recorded["package_version"] == __version__
    assert recorded["n_ecgs"] == 3 and recorded["seeds"] == {"seed": 3}
    assert recorded["ecg_list_sha256"] == ecg_list_digest(["1", "2", "3"])
    assert recorded["weights"]["v0.3"]["weights_sha256"] == "ab" * 32
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    if head:
        assert recorded["git_commit"].split("+")[0] == head.strip()


def test_the_ecg_list_digest_is_of_the_set_not_its_order():
    assert ecg_list_digest([2, 10, 1]) == ecg_list_digest(["1", "10", "2"])
    assert ecg_list_digest([1, 2]) != ecg_list_digest([1, 2, 3])


def test_no_absolute_path_survives_in_the_command():
    assert portable_command(["/a/b/pclr", "embed", "--out", "/data/Smith_J/x.parquet",
                             "--model=rel/m.h5"]) == "pclr embed --out x.parquet --model=rel/m.h5"
    assert portable_command(["b.py", "--encoder", "PCLR v0.3=/runs/v3/PCLR.h5"]) == (
        "b.py --encoder 'PCLR v0.3=PCLR.h5'")  # quoted so it runs as written


def test_a_file_that_is_not_a_results_file_is_named(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"value": 1}')
    with pytest.raises(ValueError, match="other.json: not a results file"):
        read_results(other)


def test_per_ecg_scores_round_trip_in_float16(tmp_path):
    scores = np.random.default_rng(0).normal(size=(5, 3))
    path = write_scores(tmp_path / "s.npz", ["a", "b", "c", "d", "e"], {"all__0.1": scores})
    saved = np.load(path)
    assert saved["ecg_id"].tolist() == ["a", "b", "c", "d", "e"]
    np.testing.assert_allclose(saved["all__0.1"], scores, atol=2e-3)
