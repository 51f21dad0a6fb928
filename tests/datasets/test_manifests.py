"""Manifests from a data set's metadata: only records whose files are here."""

from pclr_keras.datasets import catalog


def test_challenge2021_default_selection_and_manifest(tmp_path):
    dataset = catalog.DATASETS["challenge2021"]
    rate, patterns = catalog.file_patterns(dataset, "challenge2021", None, None)
    listed = ["RECORDS", "training/georgia/g1/E00001.hea", "training/georgia/g1/E00001.mat",
              "training/georgia/g1/E00001.png", "training/ptb-xl/g1/HR00001.hea"]
    assert [p for p in listed if catalog.matches(p, patterns)] == listed[:3] + listed[4:]
    for path in listed[1:3] + ["training/ptb-xl/g1/HR00001.hea"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    manifest = dataset.manifest(tmp_path, rate)  # HR00001 has no signal file: left out
    assert manifest.to_dict("records") == [
        {"path": "training/georgia/g1/E00001", "patient_id": "", "database": "georgia"}]
