"""Embedding jobs: every ECG of a tensorized folder embedded, shards split, kills resume."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import NARROW_ENCODER
from embedding_fixtures import ATOL, read_output, vectors
from embedding_fixtures import encoder, encoder_file  # noqa: F401 (fixtures)
from pclr_keras.training.tensors import TensorizedECGs
from pclr_keras.embedding import embed, embedding_columns, format_summary, parse_shard
from pclr_keras.models import build_encoder
from pclr_keras.variants import STANDARD_LEADS


def test_tensorized_folder_gives_predict_outputs_ids_and_patients(encoder, synthetic_tensors,
                                                                  tmp_path):
    summary = embed(encoder, synthetic_tensors, tmp_path / "emb.parquet", batch_size=16,
                    chunk_size=50, progress=False)
    ecgs = TensorizedECGs(synthetic_tensors)
    expected = encoder.predict(ecgs.read_ecgs(np.arange(len(ecgs))), verbose=0)
    frame = read_output(tmp_path / "emb.parquet")
    dim = encoder.output.shape[-1]
    assert list(frame.columns) == ["ecg_id", "patient_id", "source", "quality", "leads",
                                   *embedding_columns(dim)]
    assert (frame.dtypes[5:] == np.float32).all()
    assert (frame["leads"] == ",".join(STANDARD_LEADS)).all()
    assert frame.ecg_id.tolist() == ecgs.labels.ecg_id.tolist()
    assert frame.patient_id.tolist() == ecgs.labels.patient_id.tolist()
    assert frame.source.tolist() == ecgs.labels.source.tolist()
    np.testing.assert_allclose(vectors(frame), expected, atol=ATOL, rtol=ATOL)
    assert summary["ecgs_found"] == summary["embedded"] == len(ecgs) == 122
    assert summary["rejected"] == {} and summary["parts"] == 3
    assert pd.read_csv(tmp_path / "emb.parquet.errors.csv").empty
    assert json.loads((tmp_path / "emb.parquet.summary.json").read_text())["embedded"] == 122
    assert not (tmp_path / "emb.parquet.parts").exists()
    assert "embedded         122" in format_summary(summary)

    # CSV: by suffix or by format, the same table
    embed(encoder, synthetic_tensors, tmp_path / "emb.csv", batch_size=32, progress=False)
    embed(encoder, synthetic_tensors, tmp_path / "emb.txt", output_format="csv",
          progress=False)
    for name in ("emb.csv", "emb.txt"):
        pd.testing.assert_frame_equal(read_output(tmp_path / name), frame,
                                      check_dtype=False, atol=ATOL, rtol=ATOL)

    # the same job again: the stored result, nothing recomputed
    again = embed(encoder, synthetic_tensors, tmp_path / "emb.parquet", batch_size=16,
                  chunk_size=50, progress=False)
    assert again["already_complete"] and again["embedded"] == 122


def test_shards_split_the_archive_without_overlap(encoder, synthetic_tensors, tmp_path):
    embed(encoder, synthetic_tensors, tmp_path / "whole.parquet", progress=False)
    whole = read_output(tmp_path / "whole.parquet")
    shards = []
    for i in range(3):
        summary = embed(encoder, synthetic_tensors, tmp_path / f"shard{i}.parquet",
                        shard=parse_shard(f"{i}/3"), chunk_size=16, batch_size=8,
                        progress=False)
        assert summary["shard"] == [i, 3]
        shards.append(read_output(tmp_path / f"shard{i}.parquet"))
    assert [len(s) for s in shards] == [41, 41, 40]
    union = pd.concat(shards)
    assert not union.ecg_id.duplicated().any()
    union = union.set_index("ecg_id").loc[whole.ecg_id].reset_index()
    pd.testing.assert_frame_equal(union, whole, atol=ATOL, rtol=ATOL)
    assert shards[1].ecg_id.tolist() == whole.ecg_id.tolist()[1::3]


def test_bad_arguments_are_refused(encoder, synthetic_tensors, tmp_path):
    for bad in ("3/3", "1", "a/b", "-1/2"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="shard"):
        embed(encoder, synthetic_tensors, tmp_path / "x.parquet", shard=(2, 2))
    with pytest.raises(ValueError, match="output_format"):
        embed(encoder, synthetic_tensors, tmp_path / "x.parquet", output_format="xlsx")
    with pytest.raises(ValueError, match="alone"):
        embed(encoder, [synthetic_tensors, tmp_path], tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="no ECG files"):
        embed(encoder, [tmp_path], tmp_path / "x.parquet")
    with pytest.raises(FileNotFoundError):
        embed(tmp_path / "missing.keras", synthetic_tensors, tmp_path / "x.parquet")


KILLED_RUN = textwrap.dedent("""
    import sys, time
    import pclr_keras.embedding.job as job
    write_part = job.write_part
    def slow_write_part(*args):  # slow enough for the kill to land mid-run
        write_part(*args)
        time.sleep(0.3)
    job.write_part = slow_write_part
    job.embed(sys.argv[1], sys.argv[2], sys.argv[3], chunk_size=8, batch_size=8,
              progress=False)
""")


def test_killed_run_resumes_to_the_same_output(encoder_file, synthetic_tensors, tmp_path):
    out = tmp_path / "killed.parquet"
    parts = tmp_path / "killed.parquet.parts"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(encoder_file), str(synthetic_tensors), str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(parts.glob("part-*.parquet")))
    assert 3 <= done_before < 16, "the kill should land mid-run"
    assert not out.exists()

    summary = embed(encoder_file, synthetic_tensors, out, chunk_size=8, batch_size=8,
                    progress=False)
    assert summary["parts"] == 16 and summary["parts_reused"] == done_before
    embed(encoder_file, synthetic_tensors, tmp_path / "whole.parquet", chunk_size=8,
          batch_size=8, progress=False)
    resumed, whole = read_output(out), read_output(tmp_path / "whole.parquet")
    assert len(resumed) == 122 and not resumed.ecg_id.duplicated().any()
    pd.testing.assert_frame_equal(resumed, whole, atol=1e-6, rtol=1e-6)
    assert not list(tmp_path.glob(".*tmp")) and not parts.exists()


def test_parts_of_another_model_are_recomputed(encoder, synthetic_tensors, tmp_path):
    out = tmp_path / "emb.parquet"
    embed(encoder, synthetic_tensors, out, chunk_size=40, keep_parts=True, progress=False)
    assert len(list((tmp_path / "emb.parquet.parts").glob("part-*.parquet"))) == 4
    keras.utils.set_random_seed(1)
    other = build_encoder("pclr", **NARROW_ENCODER)
    summary = embed(other, synthetic_tensors, out, chunk_size=40, progress=False)
    assert summary["parts_reused"] == 0 and not summary.get("already_complete")
    ecgs = TensorizedECGs(synthetic_tensors)
    np.testing.assert_allclose(vectors(read_output(out)),
                               other.predict(ecgs.read_ecgs(np.arange(len(ecgs))), verbose=0),
                               atol=ATOL, rtol=ATOL)
