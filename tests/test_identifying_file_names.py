"""File names that name the patient: by default no output carries them (README: What
leaves the building). The real clinical samples are copied under names made of the
patient id, a surname and the recording's date; generated Philips files carry the name
and date the file holds; a PhysioNet-style record keeps its path."""

import importlib.util
import json
import re
import shutil

import pandas as pd
import pytest

from clinical_files import known_counts, write_philips_xml
from conftest import require_shared
from ecg_files import ecg_like, write_wfdb
from pclr_keras.cli import main as pclr_main
from pclr_keras.deidentify import parse_date
from pclr_keras.io import iter_records
from test_deidentify import SAMPLES, identifiers, leaks
from test_identifiers_in_outputs import model, output_strings  # noqa: F401 (model: a fixture)

# Generated: (patient id, (surname, first name), how the name spells the recording's date).
NAMED = {"ward7/SMITH_JOHN_2020-02-03.xml": ("P-17", ("SMITH", "JOHN")),
         "ward7/03022020_1011.xml": ("P-18", ("JONES", "ANN")),
         "ward7/P-19.xml": ("P-19", None),
         "ward7/jones_ann.xml": ("P-20", ("JONES", "ANN"))}  # found by the name the file holds
KEPT = ["physionet/09876_hr", "ward7/broken.xml"]  # nothing of a patient in these names


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """(data root, the strings its names spell, the renamed paths)."""
    clinical = require_shared("data/clinical")
    root = tmp_path_factory.mktemp("hospital") / "data"
    (root / "exports").mkdir(parents=True)
    spelled, renamed = {"DOE", "SMITH", "JOHN", "JONES", "jones", "2020-02-03",
                        "03022020", "P-19"}, []
    for sample in SAMPLES:
        meta = next(iter_records(clinical / sample)).meta
        date = parse_date(meta.get("acquisition_date") or meta.get("acquisition_time"))
        name = f"exports/{meta['patient_id']}_DOE_{date:%Y%m%d}{(clinical / sample).suffix}"
        shutil.copy(clinical / sample, root / name)
        spelled |= {meta["patient_id"], f"{date:%Y%m%d}"} | {
            value for value in identifiers(clinical / sample) if len(value) > 1}
        renamed.append(name)
    for seed, (name, (patient, person)) in enumerate(NAMED.items()):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_philips_xml(root / name, known_counts(5000, seed=seed), patient_id=patient,
                          name=person)
    (root / "physionet").mkdir()
    write_wfdb(root / "physionet", "09876_hr", ecg_like(seed=0))
    (root / "ward7" / "broken.xml").write_text("<restingecgdata>cut off")
    return root, spelled, renamed + list(NAMED)


def tensorize_and_embed(archive, model, out, *flags):
    data = str(archive[0])
    for argv in (["tensorize", "--data", data, "--out", str(out / "tensors"), "--workers", "1"],
                 ["embed", "--model", str(model), "--data", data, "--out",
                  str(out / "raw.parquet")]):
        assert pclr_main(argv + list(flags)) == 0, argv
    return (pd.read_csv(out / "tensors" / "labels.csv", dtype=str, keep_default_na=False),
            pd.read_parquet(out / "raw.parquet"))


def test_names_that_spell_the_patient_are_replaced_by_the_content_digest(
        archive, model, tmp_path, capsys):
    labels, raw = tensorize_and_embed(archive, model, tmp_path / "out")
    named = labels[labels.ecg_id.str.startswith("file-")]
    assert len(named) == len(archive[2]) and named.ecg_id.str.fullmatch(
        r"file-[0-9a-f]{20}").all() and (named.source == named.ecg_id).all()
    assert sorted(set(labels.source) - set(named.source)) == ["physionet/09876_hr"]
    errors = pd.read_csv(tmp_path / "out" / "tensors" / "errors.csv")
    assert errors.source.tolist() == ["ward7/broken.xml"]  # unread: no patient to find
    assert sorted(zip(raw.ecg_id, raw.source)) == sorted(zip(labels.ecg_id, labels.source))
    for path, values in output_strings(tmp_path / "out").items():
        assert leaks(archive[1], values) == [], path
    for summary in ("tensors/summary.json", "raw.parquet.summary.json"):
        said = json.loads((tmp_path / "out" / summary).read_text())["identifiers"]
        assert said["paths_hidden"] == len(archive[2])
        assert "--keep-identifiers" in said["note"] and "--pseudonymize" in said["note"]
    assert f"{len(archive[2])} ECG(s) were in files whose path spells" in \
        capsys.readouterr().out
    again, _ = tensorize_and_embed(archive, model, tmp_path / "again")
    assert again.ecg_id.tolist() == labels.ecg_id.tolist()  # the same ids on every run


def test_keep_identifiers_keeps_the_paths(archive, model, tmp_path):
    labels, raw = tensorize_and_embed(archive, model, tmp_path / "kept", "--keep-identifiers")
    expected = sorted([re.sub(r"\.(xml|dcm|XML)$", "", name) for name in archive[2]] + KEPT[:1])
    assert sorted(labels.ecg_id) == sorted(raw.ecg_id) == expected


@pytest.mark.skipif(importlib.util.find_spec("apache_beam") is None,
                    reason="Apache Beam is not installed: pip install -e '.[dev,beam]'")
def test_beam_names_them_as_the_local_runner_does(archive, model, tmp_path):
    local = tensorize_and_embed(archive, model, tmp_path / "local")
    beam = tensorize_and_embed(archive, model, tmp_path / "beam", "--runner", "beam",
                               "--beam-options=--direct_num_workers=1")
    assert beam[0].drop(columns="shard").to_csv() == local[0].drop(columns="shard").to_csv()
    columns = ["ecg_id", "source"]
    assert sorted(map(tuple, beam[1][columns].to_numpy())) == sorted(
        map(tuple, local[1][columns].to_numpy()))
