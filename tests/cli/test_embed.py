"""`pclr embed --model random`: the baseline of README's probe example, seeded."""

import json

import keras
import pandas as pd
import pytest

from ecg_files import ecg_like, write_wfdb
from pclr_keras.cli import main as pclr_main
from pclr_keras.embedding.model import model_digest
from pclr_keras.models import build_encoder
from pclr_keras.outcome import USAGE


@pytest.fixture(scope="module")
def ecgs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ecgs")
    for seed in range(2):
        write_wfdb(folder, f"ecg{seed}", ecg_like(seed=seed))
    return folder


def embed_random(ecgs, out, *seed):
    assert pclr_main(["embed", "--model", "random", *seed, "--data", str(ecgs),
                      "--out", str(out)]) == 0
    return (pd.read_parquet(out).filter(like="embed_").to_numpy(),
            json.loads(out.with_name(out.name + ".summary.json").read_text()))


def test_random_weights_are_the_pclr_architecture_drawn_from_the_seed(ecgs, tmp_path, capsys):
    zero, summary = embed_random(ecgs, tmp_path / "random.parquet")
    keras.utils.set_random_seed(0)
    assert summary["model_digest"] == model_digest(build_encoder("pclr"))
    assert zero.shape == (2, 320) and summary["model"] == "random_seed_0"
    capsys.readouterr()
    again, _ = embed_random(ecgs, tmp_path / "random.parquet", "--seed", "0")
    assert "already complete" in capsys.readouterr().out  # the same weights: it resumes
    assert (again == zero).all()
    one, summary = embed_random(ecgs, tmp_path / "random1.parquet", "--seed", "1")
    assert summary["model"] == "random_seed_1" and not (one == zero).all()


def test_random_weights_on_beam_are_a_usage_error(ecgs, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        pclr_main(["embed", "--model", "random", "--data", str(ecgs), "--out",
                   str(tmp_path / "r.parquet"), "--runner", "beam"])
    assert stopped.value.code == USAGE
    assert capsys.readouterr().err.startswith("pclr embed: error: --model random runs on "
                                              "--runner local")
