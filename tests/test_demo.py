"""`pclr demo`: tensorize, pre-train, embed, probe, report; real data or synthetic."""

import pandas as pd

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
