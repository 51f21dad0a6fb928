"""The encoder an embedding job runs: ml4h's Keras 2 files are models too."""

import numpy as np

from ecg_files import ecg_like, write_wfdb
from embedding_fixtures import read_output, vectors
from pclr_keras.weights.load import load_encoder
from pclr_keras.embedding import embed
from pclr_keras.io import read_wfdb
from pclr_keras.preprocess import preprocess_ecg


def test_ml4h_keras2_file_is_a_model(upstream_files, tmp_path):
    """ml4h-style full-size PCLR.h5 (Keras 2, with head and custom loss) on a few raw ECGs."""
    model = upstream_files / "pclr.h5"
    folder = tmp_path / "ecgs"
    folder.mkdir()
    paths = [write_wfdb(folder, f"ecg{k}", ecg_like(seed=k)) for k in range(3)]
    summary = embed(model, [folder], tmp_path / "emb.parquet", batch_size=2, progress=False)
    assert summary["embedded"] == 3 and summary["embedding_dim"] == 320
    assert summary["model"] == "pclr.h5" and summary["variant"] == "pclr"  # no folders
    x = np.stack([preprocess_ecg(r.signal, r.fs, r.lead_names)
                  for r in map(read_wfdb, paths)])
    np.testing.assert_allclose(vectors(read_output(tmp_path / "emb.parquet")),
                               load_encoder(model).predict(x, verbose=0), atol=1e-4, rtol=1e-4)
