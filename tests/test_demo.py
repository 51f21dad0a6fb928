"""`pclr demo`: tensorize, pre-train, embed, probe, report; real data or synthetic."""

import pandas as pd
import pytest

from conftest import require_shared
from pclr_keras.cli import main as pclr_main


def test_demo_without_sample_data_says_so_and_uses_a_synthetic_cohort(tmp_path, capsys):
    assert pclr_main(["demo", "--data", str(tmp_path / "absent"), "--limit", "40",
                      "--steps", "4", "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert "using a SYNTHETIC cohort" in printed and "not real data" in printed
    report = tmp_path / "demo" / "report"
    table = pd.read_csv(report / "probe_results.csv")
    assert set(table.representation) == {"PCLR demo pre-training",
                                         "same encoder, random weights", "hand-crafted features"}
    assert set(table.target) == {"sex", "age"}
    assert (report / "probe_sex.png").stat().st_size > 1000
    assert "Same-patient retrieval" in (report / "probe_results.md").read_text()


def test_demo_on_real_ptbxl_patients(tmp_path, capsys):
    data = require_shared("data/ptbxl")
    assert pclr_main(["demo", "--data", str(data), "--limit", "120", "--steps", "4",
                      "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert "tensorized the PTB-XL sample" in printed and "SYNTHETIC" not in printed
    table = pd.read_csv(tmp_path / "demo" / "report" / "probe_results.csv")
    assert {"sex", "age", "NORM"} <= set(table.target)
    labels = pd.read_csv(tmp_path / "demo" / "tensors" / "labels.csv")
    assert labels.patient_id.nunique() == 120 and labels.in_v1_0_3.all()


@pytest.mark.slow
def test_demo_without_shared_data_uses_the_packaged_ptbxl_sample(tmp_path, monkeypatch, capsys):
    from pclr_keras.datasets import sample
    from pclr_keras.datasets.sample_build import build_sample

    archive = build_sample(require_shared("data/ptbxl"), tmp_path / "package", per_fold=12)
    monkeypatch.setattr(sample, "PACKAGED_ARCHIVE", archive)
    assert pclr_main(["demo", "--data", str(tmp_path / "absent"), "--steps", "4",
                      "--out", str(tmp_path / "demo")]) == 0
    printed = capsys.readouterr().out
    assert (f"No PTB-XL sample at {tmp_path / 'absent'}: using the 120 PTB-XL ECGs packaged "
            f"with pclr-keras, written to {tmp_path / 'demo' / 'ptbxl_sample'}") in printed
    assert "tensorized the PTB-XL sample" in printed and "SYNTHETIC" not in printed
    labels = pd.read_csv(tmp_path / "demo" / "tensors" / "labels.csv")
    assert len(labels) == 120 and sorted(labels.strat_fold.unique()) == list(range(1, 11))
    table = pd.read_csv(tmp_path / "demo" / "report" / "probe_results.csv")
    assert "PCLR released weights" in set(table.representation)
    assert {"sex", "age", "NORM", "MI"} <= set(table.target)
