"""The README is the contract: its `pclr` commands parse, and its subcommands run.

Every `pclr ...` line in the project's Markdown must be accepted by the parser
(a renamed or removed flag fails here, not for a user), and embed, probe and
finetune run through the `pclr` entry point on a small tensorized cohort.
export, tensorize, pretrain, experiment and demo run through it in their own
test modules.
"""

import shutil
import subprocess
import sysconfig
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import NARROW_ENCODER
from pclr_keras.export.artifacts import export_encoder
from pclr_keras.cli import build_parser
from pclr_keras.cli import main as pclr_main
from pclr_keras.models import build_encoder

ROOT = Path(__file__).resolve().parents[2]
def test_renamed_flag_is_caught():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["embed", "--model", "m.h5", "--data", "d", "--output", "x"])


def console_script():
    """The `pclr` script pip installed beside this Python (PATH may not hold it)."""
    pclr = shutil.which("pclr", path=sysconfig.get_path("scripts"))
    assert pclr, "the `pclr` console script is not installed (pip install -e .)"
    return pclr


def test_installed_console_script_lists_the_datasets():
    pclr = console_script()
    result = subprocess.run([pclr, "datasets", "list"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert {line.split(":")[0] for line in result.stdout.splitlines()} >= {"ptbxl", "ludb"}


@pytest.fixture(scope="module")
def narrow_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    paths = {}
    for seed, name in enumerate(("pretrained", "random")):
        keras.utils.set_random_seed(seed)
        paths[name] = export_encoder(build_encoder("pclr", **NARROW_ENCODER), out,
                                     name=name, formats=("h5",))["h5"]
    return paths


def test_embed_probe_and_finetune_through_the_cli(narrow_models, synthetic_tensors, tmp_path,
                                                  capsys):
    # pclr embed, as the README writes it, by the installed console script.
    pclr = console_script()
    tables = {}
    for name, model in narrow_models.items():
        tables[name] = tmp_path / f"{name}.parquet"
        result = subprocess.run([pclr, "embed", "--model", str(model), "--data",
                                 str(synthetic_tensors), "--out", str(tables[name])],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    labels = pd.read_csv(synthetic_tensors / "labels.csv", dtype={"patient_id": str})
    rows = pd.read_parquet(tables["pretrained"])
    assert sorted(rows.ecg_id.astype(str)) == sorted(labels.ecg_id.astype(str))
    assert rows.filter(like="embed_").shape == (len(labels), 16)

    # pclr probe, with two representations and a query as the held-out set.
    report = tmp_path / "report"
    assert pclr_main(["probe", "--embeddings", f"PCLR={tables['pretrained']}",
                      f"random={tables['random']}", "--labels",
                      str(synthetic_tensors / "labels.csv"), "--target", "sex",
                      "--target", "age:continuous", "--test", "patient_id >= 'P0036'",
                      "--label-counts", "20,40", "--repeats", "2", "--out", str(report)]) == 0
    results = pd.read_csv(report / "probe_results.csv")
    assert set(results.representation) == {"PCLR", "random"}
    assert set(results.target) == {"sex", "age"}
    assert "## sex: AUROC" in capsys.readouterr().out
    assert (report / "retrieval.csv").is_file()

    # pclr finetune: a plain Keras task model with one output per target.
    task = tmp_path / "task"
    assert pclr_main(["finetune", "--model", str(narrow_models["pretrained"]), "--data",
                      str(synthetic_tensors), "--target", "sex:binary", "--target",
                      "age:continuous", "--filter", "patient_id < 'P0036'", "--val-filter",
                      "patient_id >= 'P0036'", "--out", str(task), "--batch-size", "16",
                      "--frozen-epochs", "1", "--unfrozen-epochs", "1"]) == 0
    model = keras.models.load_model(task / "task_model.keras")
    outputs = model.predict(np.zeros((2, 4096, 12), np.float32), verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else list(outputs.values())
    assert sorted(o.shape for o in outputs) == [(2, 1), (2, 1)]


def subcommands():
    import argparse

    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def test_every_option_has_help_and_shows_its_default():
    import argparse

    for name, parser in subcommands().items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue  # -h, and earlier names kept as hidden aliases
            where = f"pclr {name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and len(action.help) > 10, f"{where}: no help text"
            shown = formatter._expand_help(action)
            if action.default not in (None, False):
                assert "default" in shown, f"{where}: its default is not shown"
                assert shown.count("(default:") <= 1, f"{where}: default shown twice"


def test_help_shows_defaults_of_the_released_recipe():
    text = subcommands()["pretrain"].format_help()
    assert "as the released recipe (default: 32)" in " ".join(text.split())
    assert build_parser().parse_args(["pretrain", "--data", "d", "--out", "o"]).batch_size == 32


def test_the_model_is_model_everywhere_and_earlier_names_still_work():
    parse = build_parser().parse_args
    assert parse(["export", "--model", "m.h5", "--out", "o"]).model == "m.h5"
    assert parse(["export", "--weights", "m.h5", "--out", "o"]).model == "m.h5"
    for flag in ("--model", "--init-weights"):
        assert parse(["pretrain", "--data", "d", "--out", "o", flag, "m.h5"]).model == "m.h5"
    args = parse(["experiment", "--data", "d", "--out", "o", "--model", "p.h5",
                  "--encoder", "mine=m.keras", "--weights", "w.h5"])
    assert args.model == ["p.h5", "mine=m.keras", "w.h5"]
    for flags in (["--target", "NORM,MI", "--target", "CD"], ["--targets", "NORM,MI,CD"]):
        assert parse(["pretrain", "--data", "d", "--out", "o", *flags]).target in (
            ["NORM,MI", "CD"], ["NORM,MI,CD"])
    tensorize = parse(["tensorize", "--data", "a", "b", "--out", "o"])
    assert (tensorize.data, tensorize.sources) == (["a", "b"], [])
    hidden = " ".join(parser.format_help() for parser in subcommands().values())
    assert "--weights" not in hidden and "--init-weights" not in hidden
    assert "--targets" not in hidden and "--encoder " not in hidden


def write_labels(folder, columns):
    folder.mkdir()
    pd.DataFrame({c: [1] for c in columns}).to_csv(folder / "labels.csv", index=False)


def test_experiment_test_set_is_required_unless_the_data_has_strat_fold(tmp_path, capsys,
                                                                        monkeypatch):
    write_labels(tmp_path / "plain", ["ecg_id", "patient_id", "sex"])
    with pytest.raises(SystemExit) as raised:
        pclr_main(["experiment", "--data", str(tmp_path / "plain"), "--out", str(tmp_path / "o")])
    assert raised.value.code == 2 and "--test is required" in capsys.readouterr().err

    import pclr_keras.evaluation.experiment

    seen = {}
    monkeypatch.setattr(pclr_keras.evaluation.experiment, "run_experiment",
                        lambda data, out, encoders, test, **kw: seen.update(
                            test=test, encoders=encoders))
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "probe_results.md").write_text("table")
    write_labels(tmp_path / "ptbxl", ["ecg_id", "patient_id", "strat_fold"])
    monkeypatch.chdir(tmp_path)
    import zipfile

    import h5py

    h5py.File(tmp_path / "p.h5", "w").close()  # the models are checked before the run
    zipfile.ZipFile(tmp_path / "m.keras", "w").close()
    assert pclr_main(["experiment", "--data", str(tmp_path / "ptbxl"), "--out",
                      str(tmp_path / "o"), "--model", "p.h5", "--model", "mine=m.keras"]) == 0
    assert seen["test"] == "strat_fold >= 9"
    assert 'held-out set --test "strat_fold >= 9"' in capsys.readouterr().out
    assert seen["encoders"] == {"PCLR": "p.h5", "mine": "m.keras", "random weights": "random"}


def test_datasets_fetch_without_a_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as raised:
        pclr_main(["datasets", "fetch"])
    err = capsys.readouterr().err
    assert raised.value.code == 2
    assert err == ("pclr datasets: error: datasets fetch needs a dataset name; "
                   "see `pclr datasets list`\n")  # one line, as any other bad argument


def test_python_dash_m_runs_the_same_command():
    import sys

    from pclr_keras import __version__

    result = subprocess.run([sys.executable, "-m", "pclr_keras.cli", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, f"pclr-keras {__version__}")


def test_each_subcommand_is_listed_once_in_help_order():
    assert list(subcommands()) == ["presets", "export", "tensorize", "pretrain", "finetune",
                                   "datasets", "embed", "probe", "experiment", "demo"]
