"""Synthetic representation tables and labels for the evaluation tests.

Patients have 1..max_ecgs ECGs; one representation encodes a latent linearly,
another is noise, so a probe's numbers have a known right answer.
"""

import numpy as np
import pandas as pd


def representation_table(matrix, ids, patients):
    """A representation table: ecg_id, patient_id, embed_000, ..."""
    frame = pd.DataFrame(matrix, columns=[f"embed_{j:03d}" for j in range(matrix.shape[1])])
    frame.insert(0, "ecg_id", ids)
    frame.insert(1, "patient_id", patients)
    return frame


def synthetic_cohort(n_patients=400, seed=0, dim=8, signal=2.0, noise=0.3, max_ecgs=4):
    """Labels and two representations: one encodes a latent linearly, one is noise.

    Patients have 1..max_ecgs ECGs; an ECG's latent is its patient's plus
    noise; `y` thresholds the latent, `age` is linear in it, `strat_fold`
    is per patient (as in PTB-XL).
    """
    rng = np.random.default_rng(seed)
    per_patient = rng.integers(1, max_ecgs + 1, n_patients)
    codes = np.repeat(np.arange(n_patients), per_patient)
    n = len(codes)
    latent = rng.normal(size=n_patients)[codes] + noise * rng.normal(size=n)
    ids = [f"ecg{i:05d}" for i in range(n)]
    patients = [f"P{c:04d}" for c in codes]
    labels = pd.DataFrame({
        "ecg_id": ids, "patient_id": patients, "y": (latent > 0.3).astype(int),
        "age": 50 + 10 * latent + rng.normal(scale=2.0, size=n),
        "strat_fold": 1 + rng.permutation(n_patients)[codes] % 10})
    good = rng.normal(size=(n, dim))
    good[:, 0] += signal * latent
    noise = rng.normal(size=(n, dim))
    return (labels, representation_table(good, ids, patients),
            representation_table(noise, ids, patients))


def summary_value(result, representation, n_labels, metric_name, column="mean"):
    """One number of a probe's summary."""
    s = result.summary
    row = s[(s.representation == representation) & (s.n_labels == n_labels)
            & (s.metric == metric_name)]
    assert len(row) == 1
    return float(row[column].iloc[0])

