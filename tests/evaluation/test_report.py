"""The report folder: probe table as CSV and Markdown, a plot per target, retrieval."""

import re

import pandas as pd
import pytest

from pclr_keras.evaluation.probe import probe
from pclr_keras.evaluation.report import write_report
from pclr_keras.evaluation.retrieval import retrieval_table
from representation_cohort import synthetic_cohort


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort()


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



def test_the_lead_set_plot_is_a_png(tmp_path):
    import pandas as pd

    from pclr_keras.evaluation.plots import plot_lead_sets

    rows = pd.DataFrame({"model": ["v9", "v9", "v8", "v8"], "leads": ["12", "I", "12", "I"],
                         "auroc": [0.9, 0.85, 0.88, 0.8], "ci_low": [0.89, 0.84, 0.87, 0.79],
                         "ci_high": [0.91, 0.86, 0.89, 0.81]})
    plot_lead_sets(rows, tmp_path / "leads.png", "superdiagnostic")
    assert (tmp_path / "leads.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
