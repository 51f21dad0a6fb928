"""Representation tables from files, ids as strings, superclass targets from PTB-XL cells."""

import numpy as np
import pandas as pd
import pytest

from pclr_keras.evaluation.inputs import load_representation, superclass_targets
from representation_cohort import synthetic_cohort


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort()


def test_superclass_targets_from_ptbxl_cells():
    labels = pd.DataFrame({"ecg_id": [1, 2, 3, 4], "diagnostic_superclass":
                           ["NORM", "CD;MI", np.nan, "['HYP', 'STTC']"]})
    targets = superclass_targets(labels)
    assert list(targets.columns) == ["NORM", "MI", "STTC", "CD", "HYP"]
    np.testing.assert_array_equal(targets.loc[0].to_numpy(), [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(targets.loc[1].to_numpy(), [0, 1, 0, 1, 0])
    assert targets.loc[2].isna().all()
    np.testing.assert_array_equal(targets.loc[3].to_numpy(), [0, 0, 1, 0, 1])
    assert list(labels.join(targets).columns)[-5:] == ["NORM", "MI", "STTC", "CD", "HYP"]


def test_representation_files_and_ids(cohort, tmp_path):
    _, good, _ = cohort
    good = good.assign(source="file", shard=0)
    good.to_parquet(tmp_path / "e.parquet")
    good.to_csv(tmp_path / "e.csv", index=False)
    features = good.filter(like="embed_").to_numpy()
    np.savez(tmp_path / "e.npz", embeddings=features, ecg_id=good.ecg_id.to_numpy(str),
             patient_id=good.patient_id.to_numpy(str))
    for path in ("e.parquet", "e.csv", "e.npz"):
        table = load_representation(tmp_path / path, prefix="embed_")
        assert list(table.columns[:2]) == ["ecg_id", "patient_id"]
        np.testing.assert_allclose(table.iloc[:, 2:].to_numpy(), features)
    # Without a prefix every numeric column but the ids is a feature.
    assert "shard" in load_representation(good).columns
    ints = load_representation(good.assign(ecg_id=np.arange(len(good), dtype=float)))
    assert ints.ecg_id.iloc[3] == "3"
    with pytest.raises(ValueError, match="duplicated"):
        load_representation(pd.concat([good.head(2), good.head(1)]))

