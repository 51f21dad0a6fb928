"""The installed wheel, used as a user would: from outside the repository, no source tree.

Run by `.ci/run` with the python of a fresh virtual environment holding only
the built wheel. Checks that `load_encoder("pclr-ptbxl")` comes from the
installed package and equals the repository's `model_zoo/PCLR/PCLR.h5`
(loaded by plain Keras), that `pclr embed --model pclr-ptbxl` gives the
same representations, that `pclr --version`, an unknown name and an earlier
release (kept in the repository, not the wheel) answer.

Usage: python check_wheel.py REPOSITORY [RECORD ...]   (WFDB record paths, no suffix)
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import pclr_keras


def main(repository, records):
    repository = Path(repository).resolve()
    installed = Path(pclr_keras.__file__).resolve()
    assert repository not in installed.parents, f"pclr_keras imported from the clone: {installed}"
    pclr = Path(sys.executable).with_name("pclr")

    encoder = pclr_keras.load_encoder("pclr-ptbxl")
    assert encoder.input.shape == (None, 4096, 12) and encoder.output.shape == (None, 320)
    reference = keras.models.load_model(repository / "model_zoo/PCLR/PCLR.h5", compile=False)
    batch = np.stack([
        pclr_keras.preprocess_ecg(r.signal, r.fs, r.lead_names, variant="pclr", source=r.source)
        for r in map(pclr_keras.read_wfdb, records)])
    expected = reference.predict(batch, verbose=0)
    np.testing.assert_array_equal(encoder.predict(batch, verbose=0), expected)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "embeddings.parquet"
        subprocess.run([pclr, "embed", "--model", "pclr-ptbxl", "--data",
                        *[f"{r}.hea" for r in records], "--out", str(out)], check=True)
        table = pd.read_parquet(out)
        table.index = [Path(ecg_id).name for ecg_id in table.ecg_id]  # a file given: its name
        columns = [c for c in table.columns if c.startswith("embed_")]
        got = table.loc[[Path(r).name for r in records], columns].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)

    version = subprocess.run([pclr, "--version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    assert version == f"pclr-keras {pclr_keras.__version__}", version
    try:
        pclr_keras.load_encoder("pclr-nope")
    except FileNotFoundError as error:
        assert "pclr-ptbxl" in str(error) and "pclr-ml4h" in str(error), error
    else:
        raise AssertionError("load_encoder('pclr-nope') did not fail")
    # An earlier release is not in the wheel: one message says where it is.
    os.environ["PCLR_CACHE"] = tempfile.mkdtemp()
    try:
        pclr_keras.load_encoder("pclr-ptbxl-v0.3")
    except OSError as error:
        assert "model_zoo/PCLR/presets/pclr-ptbxl-v0.3/" in str(error), error
    else:
        raise AssertionError("load_encoder('pclr-ptbxl-v0.3') loaded from the wheel")
    print(f"CI: wheel {version} from {installed.parent}: pclr-ptbxl equals "
          f"model_zoo/PCLR/PCLR.h5 on {len(records)} records, directly and through pclr embed")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main(sys.argv[1], sys.argv[2:])
