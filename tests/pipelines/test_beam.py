"""`--runner beam`: the Beam pipelines give what `pclr embed` / `pclr tensorize` give.

One mixed folder (real PTB-XL and LUDB records, a many-ECG file, bad files),
one Beam tensorize and one Beam embed run on the multi-process DirectRunner
with 2 workers, each compared with the local command on the same folder.
"""

import importlib.util
import json
import os
import shutil
import sys

import h5py
import keras
import numpy as np
import pandas as pd
import pytest

from conftest import NARROW_ENCODER, require_shared
from ecg_files import ecg_like, write_wfdb
from pclr_keras.export.artifacts import export_encoder
from pclr_keras.cli import main as pclr_main
from pclr_keras.embedding import embed
from pclr_keras.models import build_encoder
from pclr_keras.tensorize import TensorizeSettings, find_inputs, tensorize
from pclr_keras.variants import STANDARD_LEADS

needs_beam = pytest.mark.skipif(
    importlib.util.find_spec("apache_beam") is None,
    reason="Apache Beam is not installed: pip install -e '.[dev,beam]' (CI installs it)")
BEAM = ["--runner", "beam", "--beam-options=--direct_num_workers=2"]
PTBXL = ["00001_lr", "00002_lr", "00003_lr", "00004_lr", "00005_lr", "00006_lr"]
LUDB = ["1", "2"]


def copy_record(source, folder, name=None):
    """Copies a WFDB record (header and signal file), renamed to `name` if given."""
    name = name or source.name
    shutil.copy(source.with_suffix(".dat"), folder / f"{name}.dat")
    header = source.with_suffix(".hea").read_text()  # names its record and signal file
    (folder / f"{name}.hea").write_text(header.replace(source.name, name))
    return folder / f"{name}.hea"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Real records plus one of each kind of bad file; -> (folder, expected problem per name)."""
    data = require_shared("data")
    folder = tmp_path_factory.mktemp("beam") / "ecgs"
    folder.mkdir()
    for name in PTBXL:
        copy_record(data / "ptbxl" / "records100" / "00000" / name, folder)
    for name in LUDB:
        copy_record(data / "ludb" / "data" / name, folder)
    truncated = copy_record(data / "ptbxl" / "records100" / "00000" / "00007_lr", folder,
                            "truncated").with_suffix(".dat")
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with_nan = ecg_like(seed=1)
    with_nan[10:50, 3] = np.nan
    write_wfdb(folder, "nan", with_nan)
    write_wfdb(folder, "microvolts", ecg_like(seed=2) * 1000.0, gain=1.0)
    (folder / "unreadable.hea").write_text("not a WFDB header\n")
    copy_record(data / "ptbxl" / "records100" / "00000" / "00001_lr", folder, "zcopy")
    # the same ecg_id twice: dup.hea, then dup.npz with the same signal
    signal = ecg_like(seed=3)
    write_wfdb(folder, "dup", signal)
    np.savez(folder / "dup.npz", signal=np.round(signal, 3), fs=500.0,
             lead_names=np.array(STANDARD_LEADS))
    # a reader bug: `fs` stored as two numbers makes the NumPy reader raise ValueError
    np.savez(folder / "buggy.npz", signal=ecg_like(seed=4), fs=np.array([500.0, 500.0]),
             lead_names=np.array(STANDARD_LEADS))
    # one file, two ECGs: fans out into two elements
    np.savez(folder / "stack.npz", signal=np.stack([ecg_like(seed=5), ecg_like(seed=6)]),
             fs=500.0, lead_names=np.array(STANDARD_LEADS))
    return folder


def by_name(errors):
    """Errors by record name (a record named "nan" stays a name: keep_default_na=False)."""
    return {os.path.basename(s).split(".")[0] + ("." + s.rsplit(".", 1)[1]
            if s.endswith(".npz") else ""): p for s, p in zip(errors.source, errors.problem)}


@needs_beam
def test_tensorize_on_beam_equals_pclr_tensorize(mixed, tmp_path):
    local, beam = tmp_path / "local", tmp_path / "beam"
    tensorize(find_inputs([mixed]), local, TensorizeSettings(), workers=1, shard_size=5,
              progress=False)
    (beam / "shards").mkdir(parents=True)
    (beam / "shards" / "shard-00042.h5").write_bytes(b"stale")  # from an earlier, larger run
    assert pclr_main(["tensorize", str(mixed), "--out", str(beam), "--shard-size", "5",
                      *BEAM]) == 0

    summary = json.loads((beam / "summary.json").read_text())
    assert summary == json.loads((local / "summary.json").read_text())
    assert summary["ecgs_found"] == summary["tensorized"] + sum(summary["rejected"].values())
    assert summary["tensorized"] == len(PTBXL) + len(LUDB) + 1 + 2  # + dup.hea, stack x 2
    assert sorted(p.name for p in (beam / "shards").iterdir()) == summary["shards"]
    labels = pd.read_csv(beam / "labels.csv")
    pd.testing.assert_frame_equal(labels, pd.read_csv(local / "labels.csv"))
    assert labels.ecg_id.is_unique
    pd.testing.assert_frame_equal(pd.read_csv(beam / "index.csv"),
                                  pd.read_csv(local / "index.csv"))
    errors = pd.read_csv(beam / "errors.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(errors,
                                  pd.read_csv(local / "errors.csv", keep_default_na=False))
    assert by_name(errors) == {"truncated": "unreadable", "nan": "not_finite",
                               "microvolts": "microvolts", "unreadable": "unreadable",
                               "zcopy": "duplicate", "dup.npz": "duplicate",
                               "buggy.npz": "unreadable"}
    tensors = {out: {} for out in (local, beam)}  # the same tensor under each id
    for out in tensors:
        for row in labels.itertuples():
            with h5py.File(out / "shards" / f"shard-{row.shard:05d}.h5", "r") as f:
                assert f["ecg_id"].asstr()[row.row] == row.ecg_id
                tensors[out][row.ecg_id] = f["ecg/pclr"][row.row]
    for ecg_id, tensor in tensors[beam].items():
        np.testing.assert_array_equal(tensor, tensors[local][ecg_id])


@needs_beam
def test_embed_on_beam_equals_pclr_embed(mixed, tmp_path):
    keras.utils.set_random_seed(0)
    model = export_encoder(build_encoder("pclr", **NARROW_ENCODER), tmp_path / "model",
                           name="narrow", formats=("keras",))["keras"]
    local, beam = tmp_path / "local.parquet", tmp_path / "beam.parquet"
    embed(model, [mixed], local, batch_size=4, progress=False)
    pd.DataFrame({"ecg_id": ["stale"]}).to_parquet(beam)  # an earlier run's output: replaced
    parts = tmp_path / "beam.parquet.parts"
    parts.mkdir()
    (parts / "part-00077.parquet").write_bytes(b"stale")
    assert pclr_main(["embed", "--model", str(model), "--data", str(mixed), "--out", str(beam),
                      "--batch-size", "4", "--chunk-size", "6", *BEAM]) == 0

    ours, theirs = pd.read_parquet(beam), pd.read_parquet(local)
    assert list(ours.columns) == list(theirs.columns)
    assert list(ours.columns[:3]) == ["ecg_id", "patient_id", "source"]
    assert ours.ecg_id.is_unique and not parts.exists()
    ours = ours.set_index("ecg_id").sort_index()
    theirs = theirs.set_index("ecg_id").sort_index()
    assert ours.index.tolist() == theirs.index.tolist()
    assert "stack#row=1" in ours.index and "00001_lr" in ours.index  # relative to the folder
    pd.testing.assert_frame_equal(ours[["patient_id", "source"]], theirs[["patient_id", "source"]])
    np.testing.assert_allclose(ours.filter(like="embed_").to_numpy(),
                               theirs.filter(like="embed_").to_numpy(), atol=1e-5, rtol=1e-5)

    errors = pd.read_csv(f"{beam}.errors.csv", keep_default_na=False)
    expected = pd.read_csv(f"{local}.errors.csv", keep_default_na=False)
    assert sorted(map(tuple, errors.to_numpy())) == sorted(map(tuple, expected.to_numpy()))
    assert by_name(errors) == {"truncated": "unreadable", "nan": "not_finite",
                               "microvolts": "microvolts", "unreadable": "unreadable",
                               "dup.npz": "duplicate", "buggy.npz": "unreadable"}
    bug = errors.message[errors.source.str.endswith("buggy.npz")].item()
    assert "ValueError" in bug and "raised at numpy_records.py" in bug
    summary = json.loads(open(f"{beam}.summary.json").read())
    assert summary["ecgs_found"] == len(ours) + len(errors) == 18
    assert summary["embedded"] == len(ours)


@pytest.fixture(scope="module")
def long_records(tmp_path_factory):
    """Records of 1-3 whole 10 s windows (+ a remainder), one with a bad second window,
    and a file of two long ECGs."""
    folder = tmp_path_factory.mktemp("beam_long") / "ecgs"
    folder.mkdir()
    for name, seconds, seed in (("a", 25.0, 1), ("b", 10.0, 2), ("c", 31.0, 3)):
        write_wfdb(folder, name, ecg_like(seconds=seconds, seed=seed))
    flat_later = ecg_like(seconds=20.0, seed=4)
    flat_later[5000:, 3:7] = 0.0  # window 1 has 4 flat leads: the ECG is rejected whole
    write_wfdb(folder, "flat_later", flat_later)
    np.savez(folder / "stack.npz", fs=500.0, lead_names=np.array(STANDARD_LEADS),
             signal=np.stack([ecg_like(seconds=21.0, seed=5), ecg_like(seconds=21.0, seed=6)]))
    return folder


@needs_beam
@pytest.mark.parametrize("aggregate", ["mean", "none"])
def test_embed_on_beam_windows_all_equals_pclr_embed(long_records, aggregate, tmp_path):
    keras.utils.set_random_seed(0)
    model = export_encoder(build_encoder("pclr", **NARROW_ENCODER), tmp_path / "model",
                           name="narrow", formats=("keras",))["keras"]
    local, beam = tmp_path / "local.parquet", tmp_path / "beam.parquet"
    options = ["--windows", "all", "--aggregate", aggregate, "--batch-size", "3"]
    embed(model, [long_records], local, batch_size=3, windows="all", aggregate=aggregate,
          progress=False)
    assert pclr_main(["embed", "--model", str(model), "--data", str(long_records),
                      "--out", str(beam), "--chunk-size", "2", *options, *BEAM]) == 0

    ours = pd.read_parquet(beam).set_index("ecg_id").sort_index()
    theirs = pd.read_parquet(local).set_index("ecg_id").sort_index()
    assert list(ours.columns) == list(theirs.columns)
    expected_ids = {"mean": ["a", "b", "c", "stack#row=0", "stack#row=1"],
                    "none": ["a", "a#w1", "b", "c", "c#w1", "c#w2", "stack#row=0",
                             "stack#row=0#w1", "stack#row=1", "stack#row=1#w1"]}[aggregate]
    assert ours.index.tolist() == expected_ids  # relative to the folder given
    assert ours.index.tolist() == theirs.index.tolist()
    ids = [c for c in ours.columns if not c.startswith("embed_")]
    pd.testing.assert_frame_equal(ours[ids], theirs[ids])
    if aggregate == "mean":
        assert ours.windows.tolist() == [2, 1, 3, 2, 2]
    np.testing.assert_allclose(ours.filter(like="embed_").to_numpy(),
                               theirs.filter(like="embed_").to_numpy(), atol=1e-5, rtol=1e-5)
    errors = pd.read_csv(f"{beam}.errors.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(errors,
                                  pd.read_csv(f"{local}.errors.csv", keep_default_na=False))
    assert errors.source.tolist() == ["flat_later"]
    assert errors.problem.tolist() == ["flat_lead"]
    summary = json.loads(open(f"{beam}.summary.json").read())
    assert (summary["windows"], summary["embedded"], summary["ecgs_found"]) == \
        ("all", len(ours), len(ours) + 1)


def test_runner_beam_without_beam_says_which_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # as if not installed
    for argv in (["tensorize", str(tmp_path), "--out", str(tmp_path / "t")],
                 ["embed", "--model", "pclr-ptbxl", "--data", str(tmp_path),
                  "--out", "e.parquet"]):
        (tmp_path / "a.hea").write_text("")
        with pytest.raises(SystemExit) as raised:
            pclr_main([*argv, "--runner", "beam"])
        assert "pip install 'pclr-keras[beam]'" in str(raised.value)


@needs_beam
def test_embed_on_beam_with_leads_i_equals_pclr_embed(tmp_path):
    folder = tmp_path / "watch"
    folder.mkdir()
    for k in range(3):  # a watch's lead-I records, and a 12-lead ECG read for its lead I
        write_wfdb(folder, f"w{k}", ecg_like(leads=1, seed=k), lead_names=["I"])
    write_wfdb(folder, "twelve", ecg_like(seed=9))
    keras.utils.set_random_seed(0)
    model = export_encoder(build_encoder("pclr", **NARROW_ENCODER), tmp_path / "model",
                           name="narrow", formats=("keras",))["keras"]
    local, beam = tmp_path / "local.parquet", tmp_path / "beam.parquet"
    embed(model, [folder], local, batch_size=2, progress=False, leads_present="I")
    assert pclr_main(["embed", "--model", str(model), "--data", str(folder), "--out", str(beam),
                      "--batch-size", "2", "--chunk-size", "2", "--leads", "I", *BEAM]) == 0

    ours = pd.read_parquet(beam).set_index("ecg_id").sort_index()
    theirs = pd.read_parquet(local).set_index("ecg_id").sort_index()
    assert list(ours.columns) == list(theirs.columns)
    assert ours.index.tolist() == ["twelve", "w0", "w1", "w2"]
    assert ours["leads"].tolist() == theirs["leads"].tolist() == ["I"] * 4
    np.testing.assert_allclose(ours.filter(like="embed_").to_numpy(),
                               theirs.filter(like="embed_").to_numpy(), atol=1e-5, rtol=1e-5)
    assert json.loads(open(f"{beam}.summary.json").read())["leads"] == "I"
