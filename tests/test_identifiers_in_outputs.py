"""What leaves the building, end to end: `pclr tensorize` and `pclr embed` on real
hospital exports (GE MUSE, Philips, HL7 aECG, DICOM) write no identifier from a
file, no absolute path and no key unless asked; pseudonyms are stable per key.

The identifying values are collected from the raw files independently of our
readers (tests/test_deidentify.py's helpers); every file of every output is
read back whole: CSV cells, JSON values, Parquet cells and metadata, HDF5
string datasets and attributes, and the HDF5 bytes themselves.
"""

import importlib.util
import json
import shutil

import h5py
import keras
import pandas as pd
import pytest

from clinical_files import known_counts, write_philips_xml
from conftest import NARROW_ENCODER, require_shared
from pclr_keras.export.artifacts import export_encoder
from pclr_keras.cli import main as pclr_main
from pclr_keras.io import iter_records
from pclr_keras.models import build_encoder
from test_deidentify import KEY, OTHER_KEY, SAMPLES, identifiers, leaks, reference_hmac

# Generated Philips files: two ECGs of patient P-17, one of P-18 (the real
# samples are one ECG per patient, so pairs need copies with other signals).
GENERATED = {"ward7/p17_first.xml": ("P-17", 1), "ward7/p17_second.xml": ("P-17", 2),
             "ward7/p18.xml": ("P-18", 3)}
GENERATED_IDENTIFIERS = {"P-17", "P-18", "2020-02-03", "10:11:12"}
OUTPUT_FILES = sorted([
    "tensors/labels.csv", "tensors/index.csv", "tensors/errors.csv", "tensors/summary.json",
    "tensors/shards/shard-00000.h5", "embedded/raw.parquet", "embedded/raw.parquet.errors.csv",
    "embedded/raw.parquet.summary.json", "embedded/tensors.csv",
    "embedded/tensors.csv.errors.csv", "embedded/tensors.csv.summary.json"])


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """data/<format>/<file> for the six real samples, data/ward7/ for the generated ones."""
    clinical = require_shared("data/clinical")
    root = tmp_path_factory.mktemp("hospital") / "data"
    found = set(GENERATED_IDENTIFIERS)
    for name in SAMPLES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clinical / name, target)
        found |= identifiers(clinical / name)
    for name, (patient, seed) in GENERATED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_philips_xml(root / name, known_counts(5000, seed=seed), patient_id=patient)
    (root / "ward7" / "broken.xml").write_text("<restingecgdata>cut off")  # an error row
    return root, found


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp("model")
    return export_encoder(build_encoder("pclr", **NARROW_ENCODER), out, name="narrow",
                          formats=("keras",))["keras"]


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    (folder / "site.key").write_bytes(KEY + b"\n")
    (folder / "other.key").write_bytes(OTHER_KEY + b"\n")
    return folder / "site.key", folder / "other.key"


def hdf5_bytes_but_numbers(path):
    """The file's bytes with the numeric datasets' stored data blanked: a signal's floats
    can spell "9999" by chance, but every other byte (names, attributes, strings) stays."""
    data = bytearray(path.read_bytes())
    regions = []
    with h5py.File(path, "r") as f:
        def collect(name, node):
            if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "fiub":
                return
            if node.chunks is None:
                if node.id.get_offset() is not None:
                    regions.append((node.id.get_offset(), node.id.get_storage_size()))
                return
            for i in range(node.id.get_num_chunks()):
                chunk = node.id.get_chunk_info(i)
                regions.append((chunk.byte_offset, chunk.size))
        f.visititems(collect)
    for offset, size in regions:
        data[offset:offset + size] = bytes(size)
    return bytes(data)


def strings_in(path):
    """Every string a file holds, as a reader of it would find them."""
    if path.suffix == ".csv":
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        return list(table.columns) + table.to_numpy().ravel().tolist()
    if path.suffix == ".json":
        return json_strings(json.loads(path.read_text()))
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        cells = table.drop([c for c in table.column_names if c.startswith("embed_")])
        return (table.column_names
                + [str(v) for column in cells.columns for v in column.to_pylist()]
                + [s for v in metadata.values() for s in json_strings(json.loads(v))])
    if path.suffix == ".h5":
        found = [hdf5_bytes_but_numbers(path).decode("latin-1")]
        with h5py.File(path, "r") as f:
            found += [s for v in f.attrs.values() for s in json_strings(maybe_json(v))]
            f.visititems(lambda name, node: found.extend(
                node.asstr()[()].tolist() if isinstance(node, h5py.Dataset)
                and node.dtype.kind == "O" else [name]))
        return found
    raise AssertionError(f"an output file nobody checks: {path}")


def maybe_json(value):
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return str(value)


def json_strings(value):
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *json_strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in json_strings(item)]
    return [str(value)]


def output_strings(*folders):
    """{file: its strings} for every file under the output folders."""
    return {path: strings_in(path) for folder in folders for path in sorted(folder.rglob("*"))
            if path.is_file()}


def run(argv):
    status = pclr_main(argv)
    assert status == 0, argv
    return status


def tensorize_and_embed(archive, model, out, *flags):
    data, _ = archive
    out.mkdir()
    run(["tensorize", "--data", str(data), "--out", str(out / "tensors"), "--workers", "1",
         *flags])
    run(["embed", "--model", str(model), "--data", str(data), "--out",
         str(out / "embedded" / "raw.parquet"), *flags])
    run(["embed", "--model", str(model), "--data", str(out / "tensors"), "--out",
         str(out / "embedded" / "tensors.csv"), "--csv"])
    return out


def assert_nothing_identifying(archive, out, model, key=None):
    """No identifier of the files, no absolute path (data, outputs, model), no key."""
    data, found = archive
    found = {v for v in found if len(v) > 1}  # a lone "0" or "M" in a file names no one
    strings = output_strings(out)
    assert sorted(str(path.relative_to(out)) for path in strings) == OUTPUT_FILES
    for path, values in strings.items():
        assert leaks(found, values) == [], path
        text = "\n".join(values)
        assert str(data) not in text and str(data.parent) not in text, path
        assert str(out) not in text and str(model.parent) not in text, path
        if key is not None:
            assert key.decode() not in text, path


def test_default_outputs_hold_no_identifier_and_no_absolute_path(archive, model, tmp_path,
                                                                  capsys):
    out = tensorize_and_embed(archive, model, tmp_path / "out")
    assert_nothing_identifying(archive, out, model)
    labels = pd.read_csv(out / "tensors" / "labels.csv", dtype=str, keep_default_na=False)
    assert sorted(labels.ecg_id) == sorted(name.rsplit(".", 1)[0] for name in [
        *SAMPLES, *GENERATED])  # relative to the folder given, suffix dropped
    assert set(labels.patient_id) == {""}
    assert {"age", "sex"} <= set(labels.columns)  # what the probes need stays
    raw = pd.read_parquet(out / "embedded" / "raw.parquet")
    assert sorted(raw.ecg_id) == sorted(labels.ecg_id) and set(raw.patient_id) == {""}
    errors = pd.read_csv(out / "tensors" / "errors.csv")
    assert errors.source.tolist() == ["ward7/broken.xml"]
    assert errors.message[0].startswith("ward7/broken.xml: ")
    summary = json.loads((out / "tensors" / "summary.json").read_text())
    assert summary["identifiers"]["patient_ids_removed"] == 9
    assert "--pseudonymize KEYFILE" in summary["identifiers"]["note"]
    embedded = json.loads((out / "embedded" / "raw.parquet.summary.json").read_text())
    assert embedded["identifiers"]["patient_ids_removed"] == 9
    assert "formed no patient pairs" in capsys.readouterr().out  # said, not only written


def patients_by_ecg(folder):
    labels = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    return dict(zip(labels.source, labels.patient_id)), labels


def test_pseudonyms_are_stable_per_key_and_pairs_form(archive, model, key_files, tmp_path):
    key, other = key_files
    first = tensorize_and_embed(archive, model, tmp_path / "first", "--pseudonymize", str(key))
    assert_nothing_identifying(archive, first, model, KEY)
    second = tmp_path / "second"
    run(["tensorize", "--data", str(archive[0]), "--out", str(second), "--workers", "1",
         "--pseudonymize", str(key)])
    patients, labels = patients_by_ecg(first / "tensors")
    assert patients == patients_by_ecg(second)[0]  # same key, same pseudonyms

    p17 = reference_hmac(KEY, "P-17")
    for name in ("ward7/p17_first", "ward7/p17_second"):
        assert patients[reference_hmac(KEY, name)] == p17  # source: the id's pseudonym
    summary = json.loads((first / "tensors" / "summary.json").read_text())
    assert summary["patients_with_2_or_more_ecgs"] == 1 and summary["patients"] == 8
    assert summary["identifiers"]["note"] == ""
    for sample in SAMPLES:  # the real files' own ids, keyed
        record = next(iter_records(archive[0] / sample))
        ecg_id = reference_hmac(KEY, sample.rsplit(".", 1)[0])
        assert patients[ecg_id] == reference_hmac(KEY, record.meta["patient_id"])
    raw = pd.read_parquet(first / "embedded" / "raw.parquet")
    assert dict(zip(raw.ecg_id, raw.patient_id)) == dict(zip(labels.ecg_id, labels.patient_id))

    # Another key in the same folder: no shard of the first key is reused.
    run(["tensorize", "--data", str(archive[0]), "--out", str(second), "--workers", "1",
         "--pseudonymize", str(other)])
    others, _ = patients_by_ecg(second)
    assert set(others.values()).isdisjoint(patients.values())
    assert set(others).isdisjoint(patients)
    assert reference_hmac(OTHER_KEY, "P-17") in others.values()


def test_keep_identifiers_keeps_what_the_files_say(archive, model, tmp_path):
    data, found = archive
    out = tmp_path / "kept"
    run(["tensorize", "--data", str(data), "--out", str(out), "--workers", "1",
         "--keep-identifiers"])
    labels = pd.read_csv(out / "labels.csv", dtype=str, keep_default_na=False)
    patients = dict(zip(labels.ecg_id, labels.patient_id))
    for sample in SAMPLES:
        record = next(iter_records(data / sample))
        assert patients[sample.rsplit(".", 1)[0]] == record.meta["patient_id"]
    assert "acquisition_date" in labels
    leaked = leaks(found, strings_in(out / "labels.csv"))  # the search finds them here
    assert {"P-17", "081486213", "SBJ-123", "642341"} <= set(leaked)
    assert str(data) not in (out / "labels.csv").read_text()  # ids stay relative
    summary = json.loads((out / "summary.json").read_text())
    assert summary["patients_with_2_or_more_ecgs"] == 1
    assert summary["identifiers"]["identifiers"] == "keep"


def test_a_named_patient_id_field_is_the_users_choice(archive, model, tmp_path):
    data, _ = archive
    out = tmp_path / "named.parquet"
    run(["embed", "--model", str(model), "--data", str(data / "ward7"), "--out", str(out),
         "--patient-id-field", "patient_id"])
    table = pd.read_parquet(out)
    assert table.patient_id.tolist() == ["P-17", "P-17", "P-18"]
    summary = json.loads((tmp_path / "named.parquet.summary.json").read_text())
    assert summary["identifiers"]["note"] == ""  # pairs form from the named field


@pytest.mark.parametrize("flags, words", [
    (["--pseudonymize", "missing.key"], "no such key file"),
    (["--pseudonymize", "KEY", "--keep-identifiers"], "not allowed with")])
def test_identifier_flags_are_checked(archive, tmp_path, capsys, flags, words):
    with pytest.raises(SystemExit) as raised:
        pclr_main(["tensorize", "--data", str(archive[0]), "--out", str(tmp_path / "t"),
                   *flags])
    assert raised.value.code == 2 and words in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_a_tensorized_folder_keeps_the_ids_it_was_given(archive, model, key_files, tmp_path):
    """The identifier flags belong to the step that reads the files."""
    data, _ = archive
    run(["tensorize", "--data", str(data / "ward7"), "--out", str(tmp_path / "t"),
         "--workers", "1"])
    with pytest.raises(SystemExit) as raised:
        pclr_main(["embed", "--model", str(model), "--data", str(tmp_path / "t"), "--out",
                   str(tmp_path / "e.parquet"), "--pseudonymize", str(key_files[0])])
    assert raised.value.code == 2
    assert not (tmp_path / "e.parquet").exists()


@pytest.mark.skipif(importlib.util.find_spec("apache_beam") is None,
                    reason="Apache Beam is not installed: pip install -e '.[dev,beam]'")
def test_beam_writes_what_the_local_commands_write(archive, model, key_files, tmp_path):
    """--runner beam, pseudonymized: the same ids, pseudonyms and summaries as local runs."""
    key = str(key_files[0])
    local = tensorize_and_embed(archive, model, tmp_path / "local", "--pseudonymize", key)
    beam = tensorize_and_embed(archive, model, tmp_path / "beam", "--pseudonymize", key,
                               "--runner", "beam", "--beam-options=--direct_num_workers=1")
    assert_nothing_identifying(archive, beam, model, KEY)
    for name in ("labels.csv", "errors.csv", "summary.json"):
        assert (beam / "tensors" / name).read_text() == (local / "tensors" / name).read_text()
    ours = pd.read_parquet(beam / "embedded" / "raw.parquet").sort_values("ecg_id")
    theirs = pd.read_parquet(local / "embedded" / "raw.parquet").sort_values("ecg_id")
    columns = ["ecg_id", "patient_id", "source"]
    assert ours[columns].to_numpy().tolist() == theirs[columns].to_numpy().tolist()
    summaries = [json.loads((out / "embedded" / "raw.parquet.summary.json").read_text())
                 for out in (beam, local)]
    assert summaries[0]["identifiers"] == summaries[1]["identifiers"]
    assert summaries[0]["identifiers"]["patient_ids_pseudonymized"] == 9
