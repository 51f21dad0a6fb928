"""What the policy left out, counted, and the note telling the user pairs were lost."""

from pclr_keras.deidentify.fields import deidentify
from pclr_keras.deidentify.summary import IdentifierSummary
from test_deidentify import KEY


def test_summary_says_pairs_were_not_formed_and_which_flag():
    metas = [{"patient_id": "A", "acquisition_date": "2020-01-01", "age": "50"},
             {"patient_id": "B", "dx": "Sinus rhythm"}, {"age": "60"}]
    first, second = IdentifierSummary(), IdentifierSummary()
    for meta in metas[:2]:
        first.add(meta, deidentify(meta))
    second.add(metas[2], deidentify(metas[2]))
    summary = first.merge(second).as_dict()
    assert summary["patient_ids_removed"] == 2
    assert summary["fields_removed"] == {"acquisition_date": 1, "dx": 1, "patient_id": 2}
    assert "2 ECG(s)" in summary["note"] and "no patient pairs" in summary["note"]
    assert "--pseudonymize KEYFILE" in summary["note"] and "--keep-identifiers" in summary["note"]

    supplied = IdentifierSummary()
    supplied.add(metas[0], deidentify(metas[0]), patient_id_supplied=True)
    assert supplied.as_dict()["note"] == ""  # the manifest's ids form the pairs
    for mode, key in (("pseudonymize", KEY), ("keep", None)):
        summary = IdentifierSummary(mode)
        summary.add(metas[0], deidentify(metas[0], mode, key=key))
        assert summary.as_dict()["note"] == ""
        assert summary.as_dict()["patient_ids_pseudonymized"] == (mode == "pseudonymize")
