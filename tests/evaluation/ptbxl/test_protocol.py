"""The PTB-XL benchmark protocol: label sets, fold roles, macro AUROC."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from conftest import require_shared
from pclr_keras.evaluation.results import provenance, read_results
from pclr_keras.evaluation.ptbxl.protocol import (bootstrap_interval, compare_on_fold9,
                                                  fit_logistic, linear_evaluation, macro_auroc,
                                                  paired_difference, ptbxl_subgroups,
                                                  statement_labels, training_subset)

STATEMENTS = pd.DataFrame(
    {"diagnostic": [1, 1, 1, np.nan, np.nan], "diagnostic_class": ["NORM", "MI", "MI", None, None]},
    index=["NORM", "IMI", "AMI", "SR", "LVOLT"])


def test_label_sets_from_scp_codes_at_any_likelihood():
    codes = pd.Series(["{'NORM': 100.0, 'SR': 0.0}", "{'IMI': 15.0, 'AMI': 50.0, 'LVOLT': 0.0}",
                       "{'SR': 0.0}"])
    superclasses = statement_labels(codes, STATEMENTS, "superdiagnostic")
    assert list(superclasses.columns) == ["MI", "NORM"]
    assert superclasses.values.tolist() == [[0, 1], [1, 0], [0, 0]]
    everything = statement_labels(codes, STATEMENTS, "all")
    assert list(everything.columns) == ["AMI", "IMI", "LVOLT", "NORM", "SR"]
    assert everything.values.sum(axis=1).tolist() == [2, 3, 1]
    with pytest.raises(ValueError, match="label_set must be one of"):
        statement_labels(codes, STATEMENTS, "rhythm")


def test_real_ptbxl_rows_give_the_manifest_superclasses():
    ptbxl = require_shared("data/ptbxl")
    manifest = pd.read_csv(ptbxl / "manifest.csv").head(300)
    statements = pd.read_csv(ptbxl / "scp_statements.csv", index_col=0)
    labels = statement_labels(manifest.scp_codes, statements, "superdiagnostic")
    joined = labels.apply(lambda row: ";".join(c for c in labels.columns if row[c]), axis=1)
    assert joined.tolist() == manifest.diagnostic_superclass.fillna("").tolist()


def test_macro_auroc_equals_scikit_learn_and_skips_one_class_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (200, 3))
    scores = y + rng.normal(0, 1.0, y.shape)
    value, n = macro_auroc(y, scores)
    assert n == 3 and value == pytest.approx(roc_auc_score(y, scores, average="macro"))
    y[:, 2] = 0
    assert macro_auroc(y, scores) == (pytest.approx(roc_auc_score(y[:, :2], scores[:, :2])), 2)


def two_classes(positive):
    """Complementary labels, so that every ECG has one (none is left out)."""
    return np.stack([positive, ~positive], axis=1).astype(np.int8)


@pytest.fixture(scope="module")
def cohort():
    """Features, a label linear in them, a label of pure noise, PTB-XL-like folds."""
    rng = np.random.default_rng(1)
    n = 3000
    features = rng.normal(size=(n, 8))
    signal = two_classes(features[:, 0] + 0.5 * rng.normal(size=n) > 0)
    noise = two_classes(rng.random(n) < 0.3)
    return features, signal, noise, rng.integers(1, 11, n)


def test_linear_evaluation_learns_the_signal_and_not_the_noise(cohort):
    features, signal, noise, folds = cohort
    learned = linear_evaluation(features, signal, folds, fractions=(0.01, 1.0), n_boot=50)
    assert learned.train_ecgs.tolist() == [round(0.01 * (folds <= 8).sum()), (folds <= 8).sum()]
    full = learned.iloc[1]
    assert full.test_auroc > 0.9 and full.ci_low < full.test_auroc < full.ci_high
    assert full.test_labels == 2 and full.C in (0.001, 0.01, 0.1, 1.0)
    chance = linear_evaluation(features, noise, folds, fractions=(1.0,), n_boot=50).iloc[0]
    assert 0.4 < chance.test_auroc < 0.6 and chance.ci_low < 0.5 < chance.ci_high


def test_unlabelled_ecgs_are_left_out(cohort):
    features, signal, _, folds = cohort
    unlabelled = signal.copy()
    unlabelled[:500] = 0
    result = linear_evaluation(features, unlabelled, folds, fractions=(1.0,), n_boot=10)
    assert result.train_ecgs.iloc[0] == (folds[500:] <= 8).sum()


def test_fold_10_never_chooses_or_trains(cohort):
    features, signal, _, folds = cohort
    scrambled = signal.copy()
    test = folds == 10
    scrambled[test] = np.random.default_rng(5).permutation(scrambled[test])
    a = linear_evaluation(features, signal, folds, fractions=(1.0,), n_boot=10)
    b = linear_evaluation(features, scrambled, folds, fractions=(1.0,), n_boot=10)
    assert a.C.tolist() == b.C.tolist() and a.val_auroc.tolist() == b.val_auroc.tolist()
    assert b.test_auroc.iloc[0] < a.test_auroc.iloc[0] - 0.2


def test_choosing_without_judging_never_reads_fold_10(cohort):
    features, signal, _, folds = cohort
    judged = linear_evaluation(features, signal, folds, fractions=(0.1, 1.0), n_boot=10)
    garbage = signal.copy()  # fold-10 labels and features that would break any score
    garbage[folds == 10] = two_classes(np.random.default_rng(7).random((folds == 10).sum()) < 0.5)
    features = features.copy()
    features[folds == 10] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        linear_evaluation(features, garbage, folds, fractions=(1.0,), n_boot=10)
    chosen = compare_on_fold9({"only": features}, garbage, folds, "only", fractions=(0.1, 1.0))
    assert chosen.representation.tolist() == ["only", "only"]
    assert chosen.difference.isna().all()
    columns = ["fraction", "train_ecgs", "C", "val_auroc"]
    pd.testing.assert_frame_equal(chosen[columns], judged[columns])


def test_paired_difference_is_exact_antisymmetric_and_tighter_than_unpaired():
    rng = np.random.default_rng(3)
    y = two_classes(rng.random(600) < 0.4)
    shared = rng.normal(0, 1.5, y.shape)  # what both models get wrong alike
    weaker = y + shared + rng.normal(0, 0.3, y.shape)
    stronger = y + shared + rng.normal(0, 0.3, y.shape) + 0.4 * (y - 0.5)
    difference, low, high, p = paired_difference(y, weaker, stronger, n_boot=300)
    assert difference == pytest.approx(macro_auroc(y, stronger)[0] - macro_auroc(y, weaker)[0])
    assert 0 < low < difference < high and p < 0.025
    swapped = paired_difference(y, stronger, weaker, n_boot=300)
    assert swapped[:3] == pytest.approx((-difference, -high, -low))
    assert paired_difference(y, weaker, weaker, n_boot=50)[:3] == (0, 0, 0)
    # Two separate intervals overlap although the paired one excludes 0.
    assert (bootstrap_interval(y, stronger, n_boot=300, seed=1)[0]
            < bootstrap_interval(y, weaker, n_boot=300)[1])


def test_candidates_are_compared_with_the_baseline_on_fold_9(cohort):
    features, signal, _, folds = cohort
    blurred = features + np.random.default_rng(4).normal(0, 2.0, features.shape)
    result = compare_on_fold9({"bar": blurred, "better": features, "same": blurred}, signal,
                              folds, "bar", fractions=(1.0,), n_boot=100)
    bar, better, same = (result.set_index("representation").loc[name] for name in
                         ("bar", "better", "same"))
    assert np.isnan(bar.difference)
    assert better.difference == pytest.approx(better.val_auroc - bar.val_auroc)
    assert better.diff_low > 0 and better.p_not_better == 0
    assert (same.difference, same.diff_low, same.diff_high) == (0, 0, 0)
    with pytest.raises(ValueError, match="baseline 'v9' is not one of the candidates"):
        compare_on_fold9({"bar": blurred}, signal, folds, "v9")


def test_joint_fit_equals_scikit_learn_per_label():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 6))
    y = np.stack([x[:, 0] + rng.normal(size=400) > 0, x[:, 1] - x[:, 2] > 0.5,
                  rng.random(400) < 0.2], axis=1).astype(float)
    w, b = fit_logistic(x, y, C=0.1)
    for j in range(3):
        reference = LogisticRegression(C=0.1, tol=1e-8, max_iter=5000).fit(x, y[:, j])
        np.testing.assert_allclose(w[:, j], reference.coef_[0], atol=1e-4)
        np.testing.assert_allclose(b[j], reference.intercept_[0], atol=1e-4)


def test_subgroups_score_the_chosen_model_within_each_group(cohort):
    features, signal, _, folds = cohort
    sex = np.where(np.arange(len(folds)) % 3 == 0, "female", "male").astype(object)
    sex[:10] = None  # unknown: in no subgroup
    sex[10:20] = np.nan  # as pandas writes unknown
    result = linear_evaluation(features, signal, folds, fractions=(1.0,), n_boot=10,
                               subgroups={"sex": sex}).set_index("subgroup")
    overall = linear_evaluation(features, signal, folds, fractions=(1.0,), n_boot=10).iloc[0]
    assert list(result.index) == ["all", "sex=female", "sex=male"]
    assert result.loc["all", "test_auroc"] == overall.test_auroc
    assert len(set(result.C)) == 1  # one model, chosen once, scored within each group
    test = folds == 10
    female = test & (sex == "female")
    assert result.loc["sex=female", "test_ecgs"] == female.sum()
    scores = result.loc["sex=female", "test_auroc"]
    assert scores > 0.85 and scores != result.loc["sex=male", "test_auroc"]


def test_ptbxl_subgroups_band_ages_and_name_sexes():
    labels = pd.DataFrame({"sex": [0, 1, 1, 0, np.nan], "age": [39, 40, 66, 300, np.nan]})
    groups = ptbxl_subgroups(labels)
    assert groups["sex"].tolist() == ["male", "female", "female", "male", None]
    assert groups["age"].tolist() == ["<40", "40-65", ">65", ">65", None]  # unknown: None


def test_the_benchmark_chooses_on_the_ecgs_every_candidate_embedded(tmp_path, capsys):
    script = Path(__file__).parents[3] / "benchmarks" / "ptbxl_protocol.py"
    spec = importlib.util.spec_from_file_location("protocol_benchmark", script)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    rng = np.random.default_rng(6)
    n = 1200
    signal = rng.normal(size=n)
    labels = pd.DataFrame({"ecg_id": [str(i) for i in range(n)],
                           "scp_codes": np.where(signal > 0, "{'IMI': 80.0}", "{'NORM': 100.0}"),
                           "strat_fold": rng.integers(1, 11, n)})

    def table(noise):
        features = signal[:, None] + rng.normal(0, noise, (n, 4))
        return pd.DataFrame({"ecg_id": labels.ecg_id, **{f"embed_{j}": features[:, j]
                                                         for j in range(4)}})
    labels["patient_id"] = np.arange(n) // 2
    tables = {"bar": table(3.0), "better": table(0.5).iloc[5:]}  # 5 ECGs not embedded
    rows, features = benchmark.aligned_features(tables, labels)
    assert f"scoring the {n - 5} ECGs every representation embedded" in capsys.readouterr().out
    args = SimpleNamespace(out=tmp_path, seed=0, n_boot=200, results=tmp_path / "fold9.json")
    about = provenance(ecg_ids=rows.ecg_id, seeds={"seed": 0})
    benchmark.choose(features, rows, STATEMENTS, ["superdiagnostic"], (1.0,), args, about)
    printed = capsys.readouterr().out
    written = pd.read_csv(tmp_path / "ptbxl_protocol_fold9.csv")
    assert written.representation.tolist() == ["bar", "better"]
    better = written.iloc[1]
    assert better.difference > 0.1 and better.diff_low > 0
    assert f"| better | {better.val_auroc:.4f} ({better.difference:+.4f} [" in printed
    saved = read_results(tmp_path / "fold9.json")
    assert saved["kind"] == "ptbxl_linear_fold9" and saved["provenance"]["n_ecgs"] == n - 5
    assert saved["fold9"][1]["difference"] == pytest.approx(better.difference)
    assert saved["fold9"][0]["difference"] is None  # the bar is not compared with itself


def test_training_subsets_of_one_seed_are_nested():
    rows = np.arange(100, 300)
    small, large = training_subset(rows, 0.1, 3), training_subset(rows, 0.5, 3)
    assert len(small) == 20 and len(large) == 100 and set(small) <= set(large)
    assert len(training_subset(rows, 0.001, 3)) == 2
    assert not np.array_equal(small, training_subset(rows, 0.1, 4))


def test_the_benchmark_embeds_each_encoder_with_its_lead_sets(monkeypatch):
    script = Path(__file__).parents[3] / "benchmarks" / "ptbxl_protocol.py"
    spec = importlib.util.spec_from_file_location("protocol_benchmark", script)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    calls = []

    def embedded(data, folder, encoders, **options):
        calls.append((Path(folder).relative_to("/o").as_posix(), list(encoders),
                      options["leads_present"], options["precision"]))
        return {name: f"{folder}/{name}" for name in encoders}
    monkeypatch.setattr(benchmark, "representation_tables", embedded)
    args = SimpleNamespace(precision="bfloat16", lead_sets="12;I", out="/o", data="d", seed=0)
    tables = benchmark.embed_all(args, {"A": "a.h5", "B [I,II]": "b.h5"})
    assert list(tables) == ["A", "A [I]", "B [I,II]"]  # one precision: no suffix
    assert calls == [("bfloat16", ["A"], None, "bfloat16"),
                     ("bfloat16/leads_I", ["A"], ("I",), "bfloat16"),
                     ("bfloat16/leads_I+II", ["B"], ("I", "II"), "bfloat16")]
