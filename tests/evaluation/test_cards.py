"""Cards rendered from results files: each marked part from its file, nothing typed."""

import json

import pytest

from pclr_keras.evaluation.cards import render_card, render_part
from pclr_keras.evaluation.model_index import front_matter, preset_summary, replace_front_matter
from pclr_keras.evaluation.results import provenance, write_results


@pytest.fixture
def results_dir(tmp_path):
    linear = [dict(representation=name, label_set="superdiagnostic", fraction=f, subgroup="all",
                   auroc=value + f / 10, ci95=[value + f / 10 - 0.01, value + f / 10 + 0.01],
                   labels=5, test_ecgs=2160, train_ecgs=int(17090 * f), C=0.1,
                   val_auroc=0.9, draws=1000)
              for name, value in [("PCLR v9", 0.8), ("random weights", 0.7)]
              for f in (0.01, 1.0)]
    retrieval = [dict(representation="PCLR v9", top1=0.6123, ci95=[0.58, 0.64],
                      chance_top1=0.001, n_queries=836, n_query_patients=360, gallery=2198,
                      n_boot=1000)]
    about = provenance(ecg_ids=["1", "2"], seeds={"seed": 0, "n_boot": 1000},
                       argv=["/x/ptbxl_protocol.py", "--results", "/x/r.json"])
    write_results(tmp_path / "v9" / "fold10.json", "ptbxl_linear_fold10",
                  {"linear": linear, "paired": [], "retrieval_fold10": retrieval}, about)
    return tmp_path


def test_a_marked_part_is_rewritten_from_its_file_and_the_rest_kept(results_dir):
    card = ("# Card\n\nProse stays.\n\n<!-- results: linear v9/fold10.json superdiagnostic -->\n"
            "| stale | 0.111 |\n<!-- /results -->\n\nMore prose.\n")
    rendered = render_card(card, results_dir)
    assert rendered.startswith("# Card\n\nProse stays.\n\n<!-- results: linear v9/fold10.json")
    assert rendered.endswith("<!-- /results -->\n\nMore prose.\n")
    assert "0.111" not in rendered
    assert "| PCLR v9 | 0.801 [0.791, 0.811] | 0.900 [0.890, 0.910] |" in rendered
    assert "| 1 % (170 ECGs) | 100 % (17,090 ECGs) |" in rendered
    assert "`ptbxl_protocol.py --results r.json`" in rendered  # where the figures came from
    assert render_card(rendered, results_dir) == rendered  # idempotent


def test_a_changed_result_changes_the_card(results_dir):
    card = "<!-- results: retrieval v9/fold10.json -->\n<!-- /results -->\n"
    before = render_card(card, results_dir)
    path = results_dir / "v9" / "fold10.json"
    payload = json.loads(path.read_text())
    payload["retrieval_fold10"][0]["top1"] = 0.7
    path.write_text(json.dumps(payload))
    after = render_card(card, results_dir)
    assert "0.612 [0.580, 0.640]" in before and "0.700 [0.580, 0.640]" in after


def test_a_missing_file_says_so_instead_of_a_figure(results_dir):
    assert render_part("linear v8/none.json all", results_dir) == (
        "*No result file (`v8/none.json`): not measured.*\n")
    assert render_part("paired v9/fold10.json", results_dir) == (  # a run that paired none
        "*No paired difference in `v9/fold10.json`: not measured.*\n")
    with pytest.raises(ValueError, match="unknown results part 'table'"):
        render_part("table v9/fold10.json", results_dir)


def test_preset_summary_and_model_index_come_from_the_same_file(results_dir):
    summary = preset_summary("pclr-v9", "ab" * 32, [results_dir / "v9" / "fold10.json"], "PCLR v9")
    assert summary["resample"] == "patient"
    assert summary["ptbxl_linear_fold10"]["superdiagnostic"]["1"]["auroc"] == pytest.approx(0.9)
    assert summary["retrieval_fold10"]["n_queries"] == 836
    assert summary["lead_sets_fold10"] is None  # no "PCLR v9 [LEADS]" rows
    matter = front_matter({"license": "bsd-3-clause", "base_model": "pclr-v8"}, summary)
    assert matter.startswith('---\nlicense: "bsd-3-clause"\nbase_model: "pclr-v8"\nmodel-index:')
    assert '"value": 0.9}' in matter and '"value": 0.6123}' in matter
    card = replace_front_matter("---\nold: 1\n---\n\n# Title\n", matter)
    assert card == matter + "\n# Title\n"
    unmeasured = preset_summary("pclr-v7", "cd" * 32, [results_dir / "v9" / "fold10.json"],
                                "PCLR v7")
    assert unmeasured["ptbxl_linear_fold10"] is None and unmeasured["retrieval_fold10"] is None
    assert "Not measured in `v9/fold10.json`: no all rows for PCLR v7" in render_part(
        'linear v9/fold10.json all "PCLR v7"', results_dir)


def test_the_lead_set_table_reads_rows_named_by_their_leads(tmp_path):
    linear = [dict(representation=name, label_set="superdiagnostic", fraction=f, subgroup="all",
                   auroc=value + f / 100, ci95=[value - 0.01, value + 0.02], labels=5,
                   test_ecgs=2160, train_ecgs=int(17090 * f), C=0.1, val_auroc=0.9, draws=1000)
              for name, value in [("v9", 0.9), ("v9 [I]", 0.85), ("v8 [I]", 0.8)]
              for f in (0.01, 0.1, 1.0)]
    write_results(tmp_path / "leads.json", "ptbxl_linear_fold10",
                  {"linear": linear, "paired": []}, provenance(ecg_ids=["1"], seeds={}))
    table = render_part('leads leads.json superdiagnostic v9 v8', tmp_path)
    assert "| 12 | 0.900 / 0.901 / 0.910 [0.890, 0.920] | not measured |" in table
    assert "| I | 0.850 / 0.851 / 0.860 [0.840, 0.870] | 0.800 / 0.801 / 0.810 [0.790, 0.820] |" in table
    # A lead set measured later, in another file, joins in LEAD_SETS order (12, limb, ..., I).
    later = [dict(row, representation="v9 [limb]", auroc=row["auroc"] - 0.02) for row in linear
             if row["representation"] == "v9"]
    write_results(tmp_path / "limb.json", "ptbxl_linear_fold10",
                  {"linear": later, "paired": []}, provenance(ecg_ids=["1"], seeds={}))
    joined = render_part('leads leads.json with=limb.json superdiagnostic v9 v8', tmp_path)
    assert [line.split(" |")[0] for line in joined.splitlines()[2:5]] == ["| 12", "| limb", "| I"]
    assert "| limb | 0.880 / 0.881 / 0.890 [0.890, 0.920] | not measured |" in joined
    assert "From `" in joined and joined.count("From `") == 2  # both files named
    assert render_part('leads leads.json with=absent.json superdiagnostic v9 v8',
                       tmp_path) == table  # a later file not yet written adds nothing
    # The preset's results.json: a row per lead set, from both files.
    summary = preset_summary("v9", "ab" * 32, [tmp_path / "leads.json", tmp_path / "limb.json"],
                             "v9")
    assert set(summary["lead_sets_fold10"]) == {"I", "limb"}
    assert summary["lead_sets_fold10"]["limb"]["superdiagnostic"]["1"]["auroc"] == pytest.approx(
        0.89)
    assert summary["ptbxl_linear_fold10"]["superdiagnostic"]["1"]["auroc"] == pytest.approx(0.91)


def test_targets_are_read_from_the_results_and_a_miss_says_by_how_much(results_dir):
    targets = [
        {"what": "v9 at 100 %", "representation": "PCLR v9", "label_set": "superdiagnostic",
         "fraction": 1.0, "at_least": 0.95},
        {"what": "v9 above random", "representation": "PCLR v9", "relative_to": "random weights",
         "label_set": "superdiagnostic", "fraction": 0.01, "at_least": 0.05},
        {"what": "v9 within 0.05 of random", "representation": "PCLR v9",
         "relative_to": "random weights", "label_set": "superdiagnostic", "fraction": 0.01,
         "at_least": -0.05, "at_most": 0.05},
        {"what": "retrieval", "representation": "PCLR v9", "retrieval": True, "at_least": 0.6},
        {"what": "retrieval 0.5", "representation": "PCLR v9", "retrieval": True,
         "at_least": 0.5},
        {"what": "v7", "representation": "PCLR v7", "retrieval": True, "at_least": 0.6}]
    (results_dir / "v9" / "targets.json").write_text(json.dumps(targets))
    table = render_part("targets v9/targets.json fold10.json", results_dir)
    assert "| v9 at 100 % | 0.900 [0.890, 0.910] | missed by 0.050 |" in table
    # A difference the run did not pair has no interval: the estimate alone is said.
    assert "| v9 above random | 0.100 | met by the estimate (no interval) |" in table
    assert "| v9 within 0.05 of random | 0.100 | missed by 0.050 |" in table  # above at_most
    # "met" only when the whole interval clears the bar.
    assert ("| retrieval | 0.612 [0.580, 0.640] | met by the estimate; its interval reaches "
            "beyond the bound |") in table
    assert "| retrieval 0.5 | 0.612 [0.580, 0.640] | met |" in table
    assert "| v7 | not measured | — |" in table
    # A paired run gives the difference its paired interval.
    path = results_dir / "v9" / "fold10.json"
    payload = json.loads(path.read_text())
    payload["paired"] = [dict(representation="PCLR v9", baseline="random weights",
                              label_set="superdiagnostic", fraction=0.01, difference=0.1,
                              ci95=[0.08, 0.12])]
    path.write_text(json.dumps(payload))
    paired = render_part("targets v9/targets.json fold10.json", results_dir)
    assert "| v9 above random | 0.100 [0.080, 0.120] | met |" in paired
