"""Tensorized folders written directly, and readers of what their pipelines yield.

In a folder from `write_tensors`, ECG k of labels.csv is the constant signal
k + 1, so a batch says which ECGs it holds (`ids`).
"""

import h5py
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

L, C = 32, 3
# 16 patients with two ECGs or more, 3 with one; written with 4 ECGs of unknown patients.
ECG_COUNTS = [2, 3, 4, 2, 5, 2, 3, 2, 2, 4, 3, 2, 2, 2, 3, 2, 1, 1, 1]


def write_tensors(folder, ecg_counts, *, without_patient=0, shard_size=7, variant="pclr",
                  leads=C):
    """A tensorize-layout folder written directly; ECG k of labels.csv is the constant k + 1.

    Patient i ("p00i") has `ecg_counts[i]` ECGs; `without_patient` ECGs have
    no patient id. ECGs are spread over the shards in a shuffled order.
    """
    patients = [f"p{i:03d}" for i, n in enumerate(ecg_counts) for _ in range(n)]
    patients += [""] * without_patient
    n = len(patients)
    stored = np.random.default_rng(1).permutation(n)  # labels row k lives at slot stored[k]
    (folder / "shards").mkdir(parents=True)
    signal = np.empty((n, L, leads), np.float32)
    signal[stored] = (np.arange(n, dtype=np.float32) + 1)[:, None, None]
    for shard, start in enumerate(range(0, n, shard_size)):
        with h5py.File(folder / "shards" / f"shard-{shard:05d}.h5", "w") as f:
            f.create_dataset(f"ecg/{variant}", data=signal[start:start + shard_size],
                             chunks=(1, L, leads))
            f.create_dataset("patient_id", data=[patients[k] for k in np.argsort(stored)
                                                 [start:start + shard_size]])
    labels = pd.DataFrame(dict(
        ecg_id=[f"e{k}" for k in range(n)], patient_id=patients,
        shard=stored // shard_size, row=stored % shard_size,
        strat_fold=np.arange(n) % 10 + 1, mi=np.arange(n) % 3 == 0,
        norm=(np.arange(n) % 2).astype(int), diagnosis=["NORM", "MI"] * (n // 2) + ["MI"] * (n % 2),
        partial=[1.0, np.nan] + [0.0] * (n - 2)))
    labels.to_csv(folder / "labels.csv", index=False)
    labels[["patient_id", "ecg_id", "shard", "row"]].sort_values(
        ["patient_id", "shard", "row"]).to_csv(folder / "index.csv", index=False)
    return folder


def ids(x):
    """Labels rows of the ECGs in a batch (constant k + 1 signals); -1 where zeroed."""
    x = np.asarray(x)
    return np.rint(np.abs(x).max(axis=(1, 2))).astype(int) - 1


def take(dataset, n):
    return list(dataset.take(n).as_numpy_iterator())


def patient_of(ecgs, rows):
    return ecgs.labels.patient_id.to_numpy()[rows]


def fake_contexts(pipelines, replicas):
    return [tf.distribute.InputContext(num_input_pipelines=pipelines, input_pipeline_id=i,
                                       num_replicas_in_sync=replicas) for i in range(pipelines)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A tensorized folder of `ECG_COUNTS` patients and 4 ECGs without a patient id."""
    return write_tensors(tmp_path_factory.mktemp("tensors"), ECG_COUNTS, without_patient=4)


@pytest.fixture(scope="module")
def ecgs(folder):
    from pclr_keras.training.tensors import TensorizedECGs

    return TensorizedECGs(folder)
