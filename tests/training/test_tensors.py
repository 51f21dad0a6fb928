"""A `pclr tensorize` output folder, read lazily: shapes, patients, rows, filters, errors."""

import pickle

import h5py
import numpy as np
import pandas as pd
import pytest

from ecg_files import ecg_like, write_wfdb
from pclr_keras.tensorize import TensorizeInput, TensorizeSettings, tensorize
from pclr_keras.training.labelled import labelled_dataset
from pclr_keras.training.pairs import pretraining_dataset
from pclr_keras.training.tensors import TensorizedECGs
from tensor_folders import ecgs, folder  # noqa: F401 (fixtures)
from tensor_folders import C, L, ids, take


def test_folder_is_read_lazily_with_its_shapes_patients_and_rows(folder, ecgs):
    labels = pd.read_csv(folder / "labels.csv", dtype={"patient_id": str})
    assert len(ecgs) == len(labels) == 50 and ecgs.input_shape == (L, C)
    assert ecgs.pair_patients == sorted(f"p{i:03d}" for i in range(16))
    assert (ecgs.labels.patient_id == "").sum() == 4
    picks = labels.sample(9, random_state=0)
    got = ecgs.read(picks[["shard", "row"]].to_numpy())
    assert got.shape == (9, L, C) and got.dtype == np.float32
    np.testing.assert_array_equal(ids(got), picks.index.to_numpy())
    with h5py.File(folder / "shards" / "shard-00002.h5", "r") as f:
        np.testing.assert_array_equal(ecgs.read([[2, 3]])[0], f["ecg/pclr"][3])
    assert ecgs.read(np.array([[[2, 3]]])).shape == (1, 1, L, C)
    clone = pickle.loads(pickle.dumps(ecgs))  # e.g. for worker processes
    np.testing.assert_array_equal(clone.read([[2, 3]]), ecgs.read([[2, 3]]))


def test_filters_keep_rows_and_recompute_pair_patients(folder):
    kept = TensorizedECGs(folder, label_filter="strat_fold <= 8")
    assert (kept.labels.strat_fold <= 8).all() and len(kept) == 40
    for patient in kept.pair_patients:
        assert (kept.labels.patient_id == patient).sum() >= 2
    some = TensorizedECGs(folder, patients=["p001", "p004", "p016"])
    assert some.pair_patients == ["p001", "p004"] and len(some) == 3 + 5 + 1
    rows = some.labels[["shard", "row"]].to_numpy()
    np.testing.assert_array_equal(ids(some.read(rows)),
                                  some.labels.ecg_id.str[1:].astype(int).to_numpy())


def test_clear_errors(folder, ecgs, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a `pclr tensorize` output"):
        TensorizedECGs(tmp_path)
    with pytest.raises(ValueError, match=r"variant 'c3po'.*\['pclr'\]"):
        TensorizedECGs(folder, variant="c3po")
    with pytest.raises(ValueError, match="no ECG left"):
        TensorizedECGs(folder, label_filter="strat_fold > 10")
    with pytest.raises(ValueError, match="label_filter"):
        TensorizedECGs(folder, label_filter="no_such_column > 1")
    with pytest.raises(KeyError, match="not among the kept ECGs"):
        ecgs.read([[99, 0]])


def test_reads_what_pclr_tensorize_writes(tmp_path):
    inputs = []
    for k, patient in enumerate(["a", "a", "b", "b", "b", "", "c"]):
        header = write_wfdb(tmp_path, f"r{k}", ecg_like(seed=k), fs=250.0)
        inputs.append(TensorizeInput(str(header), patient, (("mi", k % 2),)))
    out = tmp_path / "out"
    tensorize(inputs, out, TensorizeSettings(variants=("lead_II", "c3po")), shard_size=3,
              workers=1, progress=False)
    ecgs = TensorizedECGs(out, variant="lead_II")
    assert ecgs.input_shape == (2500, 1) and ecgs.pair_patients == ["a", "b"]
    with pytest.raises(ValueError, match=r"\['c3po', 'lead_II'\]"):
        TensorizedECGs(out, variant="pclr")
    for row in ecgs.labels.itertuples():
        with h5py.File(out / "shards" / f"shard-{row.shard:05d}.h5", "r") as f:
            np.testing.assert_array_equal(ecgs.read([[row.shard, row.row]])[0],
                                          f["ecg/lead_II"][row.row])
    signals = ecgs.read(ecgs.labels[["shard", "row"]].to_numpy())
    view1, view2 = take(pretraining_dataset(ecgs, 2, seed=0), 1)[0]
    for a, b in zip(view1, view2):
        first = np.flatnonzero((signals == a).all(axis=(1, 2)))
        second = np.flatnonzero((signals == b).all(axis=(1, 2)))
        assert first != second
        assert ecgs.labels.patient_id[first[0]] == ecgs.labels.patient_id[second[0]]
    x, y = take(labelled_dataset(TensorizedECGs(out, variant="c3po"), 3, targets=["mi"]), 1)[0]
    assert x.shape == (3, 2500, 12) and y["mi"].shape == (3, 2)
