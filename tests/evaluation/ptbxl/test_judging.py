"""Representations judged together on PTB-XL-shaped data: linear, paired and retrieval figures."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pclr_keras.evaluation.ptbxl.judging import (judge_representations, retrieval_on_fold10,
                                                 score_key)

STATEMENTS = pd.DataFrame({"diagnostic": [1, 1], "diagnostic_class": ["NORM", "MI"]},
                          index=["NORM", "IMI"])


@pytest.fixture(scope="module")
def ptbxl_like():
    """Patients with two ECGs each, folds by patient, a label the features carry."""
    rng = np.random.default_rng(0)
    n_patients = 700
    patient = np.repeat(np.arange(n_patients), 2)
    mi = np.repeat(rng.random(n_patients) < 0.4, 2)
    rows = pd.DataFrame({"ecg_id": [str(i) for i in range(len(patient))], "patient_id": patient,
                         "strat_fold": np.repeat(rng.integers(1, 11, n_patients), 2),
                         "scp_codes": np.where(mi, "{'IMI': 100.0}", "{'NORM': 100.0}")})
    person = rng.normal(size=(n_patients, 6))[patient]  # what makes a patient's ECGs alike
    sharp = np.c_[mi, person] + rng.normal(0, 0.4, (len(patient), 7))
    blurred = np.c_[mi, person] + rng.normal(0, 2.0, (len(patient), 7))
    return rows, {"sharp": sharp, "blurred": blurred}


def test_each_representation_is_scored_and_compared_on_the_same_fold_10(ptbxl_like):
    rows, features = ptbxl_like
    figures, scores = judge_representations(features, rows, STATEMENTS,
                                            label_sets=("superdiagnostic",), fractions=(1.0,),
                                            n_boot=200, pairs=[("sharp", "blurred")])
    linear = {f["representation"]: f for f in figures["linear"]}
    ids, sharp_scores = scores["sharp"][score_key("superdiagnostic", 1.0)]
    test = rows.set_index("ecg_id").loc[ids]
    assert (test.strat_fold == 10).all() and len(ids) == (rows.strat_fold == 10).sum()
    y = test.scp_codes.str.contains("IMI").to_numpy()
    expected = np.mean([roc_auc_score(y, sharp_scores[:, 0]),
                        roc_auc_score(~y, sharp_scores[:, 1])])
    assert linear["sharp"]["auroc"] == pytest.approx(expected)
    assert linear["sharp"]["ci95"][0] < expected < linear["sharp"]["ci95"][1]
    (paired,) = figures["paired"]
    assert paired["difference"] == pytest.approx(linear["sharp"]["auroc"]
                                                 - linear["blurred"]["auroc"])
    assert paired["ci95"][0] > 0 and paired["baseline"] == "blurred"


def test_pairs_must_name_given_representations(ptbxl_like):
    rows, features = ptbxl_like
    with pytest.raises(ValueError, match=r"pairs name representations not given: \['v0.9'\]"):
        judge_representations(features, rows, STATEMENTS, pairs=[("sharp", "v0.9")])


def test_retrieval_on_fold_10_searches_fold_10_only(ptbxl_like):
    rows, features = ptbxl_like
    sharp, blurred = retrieval_on_fold10(features, rows, n_boot=200)
    in_fold = (rows.strat_fold == 10).sum()
    assert sharp["gallery"] == in_fold and sharp["n_queries"] == in_fold
    assert sharp["n_query_patients"] == in_fold // 2
    assert sharp["top1"] > 0.5 > blurred["top1"] and sharp["top1"] > 50 * sharp["chance_top1"]
    assert sharp["ci95"][0] <= sharp["top1"] <= sharp["ci95"][1]
