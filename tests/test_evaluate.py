"""Linear probes, same-patient retrieval and the report, on synthetic representations."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (average_precision_score, mean_absolute_error, r2_score,
                             roc_auc_score)

from pclr_keras import evaluate
from pclr_keras.evaluate import (RIDGE_ALPHAS, cv_splits, load_representation, metric, probe,
                                 retrieval, retrieval_table, superclass_targets, write_report)


def _table(matrix, ids, patients):
    frame = pd.DataFrame(matrix, columns=[f"embed_{j:03d}" for j in range(matrix.shape[1])])
    frame.insert(0, "ecg_id", ids)
    frame.insert(1, "patient_id", patients)
    return frame


def _cohort(n_patients=400, seed=0, dim=8, signal=2.0, noise=0.3, max_ecgs=4):
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
    return labels, _table(good, ids, patients), _table(rng.normal(size=(n, dim)), ids, patients)


def _summary_value(result, representation, n_labels, metric_name, column="mean"):
    s = result.summary
    row = s[(s.representation == representation) & (s.n_labels == n_labels)
            & (s.metric == metric_name)]
    assert len(row) == 1
    return float(row[column].iloc[0])


@pytest.fixture(scope="module")
def cohort():
    return _cohort()


@pytest.fixture(scope="module")
def binary_result(cohort):
    labels, good, random = cohort
    return probe({"good": good, "random": random}, labels, "y",
                 label_counts=(5, 50, 250, 100000), repeats=3, bootstrap=200, seed=1)


def test_weighted_metrics_equal_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    score = np.round(rng.normal(size=300) + y, 1)        # ties included
    weights = rng.integers(0, 4, 300).astype(float)
    assert metric("auroc", y, score, weights) == pytest.approx(
        roc_auc_score(y, score, sample_weight=weights))
    assert metric("average_precision", y, score, weights) == pytest.approx(
        average_precision_score(y, score, sample_weight=weights))
    assert metric("average_precision", y, score) == pytest.approx(
        average_precision_score(y, score))
    target = rng.normal(size=300)
    prediction = target + rng.normal(size=300)
    assert metric("r2", target, prediction, weights) == pytest.approx(
        r2_score(target, prediction, sample_weight=weights))
    assert metric("mae", target, prediction, weights) == pytest.approx(
        mean_absolute_error(target, prediction, sample_weight=weights))
    batch = np.stack([weights, np.ones(300)])
    np.testing.assert_allclose(metric("auroc", y, score, batch),
                               [roc_auc_score(y, score, sample_weight=weights),
                                roc_auc_score(y, score)])


def test_probe_recovers_a_linear_signal_and_not_noise(binary_result):
    assert binary_result.info["task"] == "binary"
    assert binary_result.info["positive"] == 1
    assert _summary_value(binary_result, "good", 250, "auroc") > 0.9
    assert _summary_value(binary_result, "good", 250, "average_precision") > 0.8
    assert 0.35 < _summary_value(binary_result, "random", 250, "auroc") < 0.65
    scores = binary_result.scores
    assert set(scores.metric) == {"auroc", "average_precision"}
    assert scores.regularization.isin(evaluate.LOGISTIC_CS).all()


def test_label_counts_are_capped_and_monotone(binary_result):
    n_train = binary_result.info["n_train"]
    assert binary_result.info["label_counts"] == [50, 250, n_train]  # 5 < min_labels
    for _, rows in binary_result.summary.groupby(["representation", "metric"]):
        assert list(rows.n_labels) == [50, 250, n_train]
        assert list(rows.repeats) == [3, 3, 1]        # all training ECGs: one fit
    for split in binary_result.splits:
        assert len(split["train_ecg_ids"]) == split["n_labels"] <= n_train
        assert len(set(split["train_ecg_ids"])) == split["n_labels"]
    good_50 = _summary_value(binary_result, "good", 50, "auroc")
    assert _summary_value(binary_result, "good", n_train, "auroc") >= good_50 - 0.01


def test_intervals_contain_the_mean_and_narrow_with_more_held_out_data():
    labels, good, _ = _cohort(n_patients=600, seed=2, signal=0.7, noise=0.8)
    widths = {}
    for fraction in (0.1, 0.5):
        result = probe({"good": good}, labels, "y", label_counts=(200,), repeats=2,
                       test=fraction, bootstrap=300, seed=3)
        summary = result.summary
        assert (summary.ci_low <= summary["mean"]).all()
        assert (summary["mean"] <= summary.ci_high).all()
        assert 0.6 < _summary_value(result, "good", 200, "auroc") < 0.95
        widths[fraction] = (summary.ci_high - summary.ci_low).to_numpy()
    assert (widths[0.1] > 1.4 * widths[0.5]).all(), widths


@pytest.mark.parametrize("split", ["grouped", "query", "mask"])
def test_no_patient_on_both_sides_and_grouped_folds(split):
    labels, good, _ = _cohort(n_patients=300, seed=4, max_ecgs=6)
    test = {"grouped": 0.3, "query": "strat_fold >= 9", "mask": labels.strat_fold >= 9}[split]
    result = probe({"good": good}, labels, "y", label_counts=(60, 150), repeats=3, test=test,
                   bootstrap=0, seed=5)
    patient_of = dict(zip(labels.ecg_id, labels.patient_id))
    assert len(result.splits) == 6
    for s in result.splits:
        train, held_out = set(s["train_patients"]), set(s["test_patients"])
        assert not train & held_out
        assert not set(s["train_ecg_ids"]) & set(s["test_ecg_ids"])
        assert {patient_of[e] for e in s["train_ecg_ids"]} == train
        for fold_train, fold_validation in s["cv_folds"]:
            assert not set(s["train_patients"][fold_train]) & \
                set(s["train_patients"][fold_validation])
        assert len(s["cv_folds"]) == 5
    # Every ECG of a held-out patient is held out.
    held_out = set(result.splits[0]["test_patients"])
    assert set(labels.ecg_id[labels.patient_id.isin(held_out)]) == \
        set(result.splits[0]["test_ecg_ids"])
    if split != "grouped":
        assert held_out == set(labels.patient_id[labels.strat_fold >= 9])
    assert np.isnan(result.summary.ci_low).all()      # bootstrap=0: no intervals


def test_a_split_by_ecg_that_puts_a_patient_on_both_sides_is_refused():
    labels, good, _ = _cohort(n_patients=100, seed=6)
    leaky = np.random.default_rng(0).random(len(labels)) < 0.3
    with pytest.raises(ValueError, match="both sides"):
        probe({"good": good}, labels, "y", label_counts=(50,), test=leaky, bootstrap=0)


def test_cv_splits_are_grouped_stratified_and_shrink_with_few_positives():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 3)
    y = np.zeros(120)
    y[[0, 1, 2, 30, 31, 60]] = 1                      # 3 patients with positives
    folds = cv_splits(y, groups, "binary", n_splits=5, seed=0)
    assert 2 <= len(folds) <= 3
    for train, validation in folds:
        assert not set(groups[train]) & set(groups[validation])
        assert set(y[train]) == {0.0, 1.0}
    continuous = cv_splits(rng.normal(size=120), groups, "continuous", n_splits=5)
    assert len(continuous) == 5
    assert sorted(np.concatenate([v for _, v in continuous])) == list(range(120))
    assert cv_splits(np.r_[np.ones(1), np.zeros(9)], np.arange(10), "binary") == []


def test_continuous_target_uses_ridge_with_r2_and_mae(cohort):
    labels, good, random = cohort
    result = probe({"good": good, "random": random}, labels, "age", label_counts=(50, 250),
                   repeats=2, bootstrap=100, seed=0)
    assert result.info["task"] == "continuous"
    assert set(result.summary.metric) == {"r2", "mae"}
    assert _summary_value(result, "good", 250, "r2") > 0.7
    assert _summary_value(result, "random", 250, "r2") < 0.1
    assert _summary_value(result, "good", 250, "mae") < 0.6 * _summary_value(
        result, "random", 250, "mae")
    assert result.scores.regularization.isin(RIDGE_ALPHAS).all()
    assert list(result.summary.metric.unique()) == ["r2", "mae"]


def test_string_binary_target_with_missing_values_and_ids_from_csv(cohort, tmp_path):
    labels, good, _ = cohort
    labels = labels.assign(sex=np.where(labels.y == 1, "M", "F")).astype({"sex": object})
    labels.loc[labels.index[::7], "sex"] = np.nan
    labels.drop(columns="patient_id").to_csv(tmp_path / "labels.csv", index=False)
    result = probe({"good": good}, tmp_path / "labels.csv", "sex", label_counts=(100,),
                   repeats=1, bootstrap=0)                    # patients from the table
    assert result.info["positive"] == "M"
    assert result.info["n_train"] + result.info["n_test"] == labels.sex.notna().sum()


def test_report_table_and_plot_for_several_representations(cohort, tmp_path):
    labels, good, random = cohort
    seen = []

    def from_scratch(train_ids, y_train, train_patients, test_ids, *, task, seed):
        """Stands in for a network trained on the labels: sees only its subset."""
        from sklearn.linear_model import LogisticRegression

        seen.append(list(train_ids))
        features = good.set_index("ecg_id")
        model = LogisticRegression().fit(features.loc[train_ids].iloc[:, 1:], y_train)
        return model.predict_proba(features.loc[test_ids].iloc[:, 1:])[:, 1]

    representations = {"PCLR": good, "random weights": random, "from scratch": from_scratch}
    result = probe(representations, labels, "y", label_counts=(50, 100), repeats=2,
                   bootstrap=100, seed=0)
    assert seen == [list(s["train_ecg_ids"]) for s in result.splits]
    held_out = result.splits[0]["test_ecg_ids"]
    table = retrieval_table({"PCLR": good, "random weights": random}, ecg_ids=held_out)
    paths = write_report(result.summary, tmp_path / "report", retrieval=table)

    assert (tmp_path / "report" / "probe_results.csv").exists()
    png = tmp_path / "report" / "probe_y.png"
    assert paths["plot_y"] == png and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5000
    again = pd.read_csv(paths["csv"])
    assert len(again) == len(result.summary) == 3 * 2 * 2
    markdown = paths["markdown"].read_text(encoding="utf-8")
    for name in representations:
        rows = [line for line in markdown.splitlines() if line.startswith(f"| {name} |")]
        assert len(rows) == 2 + (name != "from scratch")  # AUROC, AP (+ retrieval)
    assert "## y: AUROC" in markdown and "## y: average precision" in markdown
    assert re.search(r"\| 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\] \|", markdown)
    assert "| representation | 50 | 100 |" in markdown
    # A metric selection with display names.
    only = write_report(result.summary, tmp_path / "auroc", {"auroc": "AUROC (NORM)"})
    assert "average precision" not in only["markdown"].read_text(encoding="utf-8")


def test_retrieval_finds_patient_clusters_and_chance_is_exact():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 16))
    patients = np.repeat(np.arange(60), 3)
    clustered = centres[patients] + 0.05 * rng.normal(size=(180, 16))
    result = retrieval(clustered, patients)
    assert result["top1"] == 1.0 and result["top5"] == 1.0
    assert result["n_queries"] == 180 and result["n_patients"] == 60
    noise = retrieval(rng.normal(size=(180, 16)), patients)
    assert noise["top1"] < 0.1
    # 1 - C(N-1-m, k) / C(N-1, k), N = 180, m = 2.
    assert result["chance_top1"] == pytest.approx(2 / 179)
    assert result["chance_top5"] == pytest.approx(1 - (177 * 176 * 175 * 174 * 173) /
                                                  (179 * 178 * 177 * 176 * 175))

    # By hand: patients a a b b b c. Queries: the two a's (m = 1) and three b's
    # (m = 2) among N - 1 = 5 candidates. top-1 chance: (2 * 1/5 + 3 * 2/5) / 5.
    small = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [-1, 0.2], [-1, -0.2]], float)
    hand = retrieval(small, ["a", "a", "b", "b", "b", "c"], k=(1, 2, 5))
    assert hand["n_queries"] == 5 and hand["n_ecgs"] == 6
    assert hand["chance_top1"] == pytest.approx(0.32)
    assert hand["chance_top2"] == pytest.approx((2 * (1 - 6 / 10) + 3 * (1 - 3 / 10)) / 5)
    assert hand["chance_top5"] == pytest.approx(1.0)
    # a->a, a->a, b->b, b->b, and b at (-1, 0.2) -> c: 4 of 5.
    assert hand["top1"] == pytest.approx(0.8)
    assert hand["top5"] == 1.0


def test_retrieval_reads_a_table(cohort):
    _, good, _ = cohort
    result = retrieval(good)
    assert result["n_ecgs"] == len(good)
    assert 0 <= result["chance_top1"] < result["chance_top5"] < 1


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


def test_modules_do_not_import_tensorflow():
    code = ("import sys, pclr_keras.evaluate, pclr_keras.features; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
