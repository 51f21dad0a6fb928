"""Reduced-lead input end to end: lead-I recordings and a tensorized folder embedded
with `--leads`, the missing leads zeros exactly as the encoder sees them."""

import numpy as np
import pytest
import wfdb

from ecg_files import ecg_like, write_wfdb
from embedding_fixtures import ATOL, read_output, vectors
from embedding_fixtures import encoder, encoder_file  # noqa: F401 (fixtures)
from pclr_keras.cli import main as pclr_main
from pclr_keras.embedding import embed
from pclr_keras.preprocess import preprocess_ecg
from pclr_keras.training.tensors import TensorizedECGs
from pclr_keras.variants import STANDARD_LEADS

ALL_LEADS = ",".join(STANDARD_LEADS)


@pytest.fixture(scope="module")
def watch(tmp_path_factory):
    """Three lead-I-only WFDB records, as a watch exports them, and their signals as stored."""
    folder = tmp_path_factory.mktemp("watch")
    signals = {}
    for k in range(3):
        write_wfdb(folder, f"w{k}", ecg_like(leads=1, seed=k), lead_names=["I"])
        signals[f"w{k}"] = wfdb.rdrecord(str(folder / f"w{k}")).p_signal
    return folder, signals


def zero_filled(signal):
    """The 12-lead encoder input of a lead-I signal: lead I, the other leads zero."""
    return preprocess_ecg(signal, 500.0, ["I"], leads_present="I")


def test_lead_i_files_embed_with_leads_i(watch, encoder, encoder_file, tmp_path):
    folder, signals = watch
    out = tmp_path / "lead_I.parquet"
    assert pclr_main(["embed", "--model", str(encoder_file), "--data", str(folder),
                      "--out", str(out), "--leads", "I"]) == 0
    frame = read_output(out).set_index("ecg_id").sort_index()
    assert frame.index.tolist() == sorted(signals)
    assert frame["leads"].tolist() == ["I"] * 3
    inputs = np.stack([zero_filled(signals[name]) for name in frame.index])
    assert not inputs[..., 1:].any()
    expected = encoder.predict(inputs, verbose=0)
    np.testing.assert_allclose(vectors(frame), expected, atol=ATOL)


def test_lead_i_files_are_rejected_without_leads(watch, encoder, tmp_path):
    folder, _ = watch
    summary = embed(encoder, folder, tmp_path / "strict.parquet", progress=False)
    assert summary["embedded"] == 0 and summary["rejected"] == {"missing_lead": 3}


def test_a_lead_the_files_lack_is_an_error_naming_file_and_lead(watch, encoder, tmp_path):
    folder, _ = watch
    out = tmp_path / "limb.parquet"
    summary = embed(encoder, folder, out, progress=False, leads_present="limb")
    assert summary["rejected"] == {"missing_lead": 3}
    errors = read_output(f"{out}.errors.csv")
    assert errors.message.str.contains(r"w\d: lead II is missing").all()


def test_tensorized_folder_with_leads_equals_the_zeroed_inputs(encoder, synthetic_tensors,
                                                               tmp_path):
    ecgs = TensorizedECGs(synthetic_tensors)
    inputs = ecgs.read_ecgs(np.arange(len(ecgs)))
    inputs[..., [i for i, lead in enumerate(STANDARD_LEADS) if lead not in ("I", "II")]] = 0
    expected = encoder.predict(inputs, verbose=0)
    out = tmp_path / "I_II.csv"
    summary = embed(encoder, synthetic_tensors, out, progress=False, leads_present="I,II")
    frame = read_output(out)
    assert summary["leads"] == "I,II" and frame["leads"].tolist() == ["I,II"] * len(ecgs)
    assert frame.ecg_id.tolist() == ecgs.labels.ecg_id.tolist()
    np.testing.assert_allclose(vectors(frame), expected, atol=ATOL)


def test_leads_enter_the_part_digests(encoder, synthetic_tensors, tmp_path):
    out = tmp_path / "emb.parquet"
    first = embed(encoder, synthetic_tensors, out, chunk_size=40, progress=False)
    assert read_output(out)["leads"].unique().tolist() == [ALL_LEADS]
    same = embed(encoder, synthetic_tensors, out, chunk_size=40, progress=False,
                 leads_present="12")  # every lead named: the same job
    assert same.get("already_complete") and same["job"] == first["job"]
    lead_i = embed(encoder, synthetic_tensors, out, chunk_size=40, progress=False,
                   keep_parts=True, leads_present="I")
    assert lead_i["job"] != first["job"] and lead_i["parts_reused"] == 0
    again = embed(encoder, synthetic_tensors, out, chunk_size=40, progress=False,
                  leads_present="I")
    assert again["job"] == lead_i["job"] and read_output(out)["leads"].unique().tolist() == ["I"]
    back = embed(encoder, synthetic_tensors, out, chunk_size=40, progress=False)
    assert back["job"] == first["job"] and back["parts_reused"] == 0


def test_tensorize_leads_i_then_embed(watch, encoder, tmp_path):
    folder, signals = watch
    tensors = tmp_path / "tensors"
    assert pclr_main(["tensorize", "--data", str(folder), "--out", str(tensors),
                      "--leads", "I", "--workers", "1"]) == 0
    ecgs = TensorizedECGs(tensors)
    assert ecgs.labels["leads"].tolist() == ["I"] * 3
    stored = ecgs.read_ecgs(np.arange(3))
    expected = np.stack([zero_filled(signals[name]) for name in ecgs.labels.ecg_id])
    np.testing.assert_array_equal(stored, expected)
    out = tmp_path / "from_tensors.parquet"
    embed(encoder, tensors, out, progress=False, leads_present="I")
    frame = read_output(out)
    assert frame["leads"].tolist() == ["I"] * 3
    np.testing.assert_allclose(vectors(frame), encoder.predict(expected, verbose=0), atol=ATOL)
