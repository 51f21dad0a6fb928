"""The preset table: every preset says what it is, where it comes from, how it is pinned.

The table is data: nothing here loads weights or reaches a network.
"""

import ast
import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pclr_keras.cli import main as pclr_main
from pclr_keras.weights import presets
from pclr_keras.weights.presets import ALIASES, PRESETS, get_preset

ROOT = Path(__file__).resolve().parents[2]


def test_every_preset_says_what_it_is_and_has_a_model_card():
    assert presets.ALIASES["pclr-ptbxl"] in PRESETS
    for preset in PRESETS.values():
        card = (ROOT if preset.archived else presets.PACKAGE_DIR) / preset.model_card
        assert card.is_file(), preset.name
        for field in ("version", "variant", "training_data", "code_licence", "weights_licence",
                      "source_url", "date"):
            assert getattr(preset, field), (preset.name, field)
        assert len(preset.sha256) == 64 and preset.size > 20_000_000
        folder = (presets.WEIGHTS_DIR / preset.packaged if preset.packaged
                  else presets.ARCHIVE_DIR / preset.name if preset.archived else None)
        if folder:
            metadata = json.loads((folder / "metadata.json").read_text())
            assert metadata["weights_sha256"] == preset.sha256
            assert metadata["preset_version"] == preset.version
            assert metadata["input_shape"] == [None, *preset.input_shape]


def test_a_name_without_a_version_is_the_newest_release_and_a_typo_lists_the_table():
    newest = max((p for p in PRESETS.values() if p.name.startswith("pclr-ptbxl-v")),
                 key=lambda p: tuple(map(int, p.version.split("."))))
    assert get_preset("pclr-ptbxl") is newest and ALIASES["pclr-ptbxl"] == newest.name
    with pytest.raises(KeyError) as caught:
        get_preset("pclr-ptbx")
    message = str(caught.value)
    assert "No preset 'pclr-ptbx'. Did you mean 'pclr-ptbxl'" in message
    assert all(name in message for name in PRESETS)


def test_only_the_current_release_ships_in_the_wheel_the_earlier_ones_are_archived():
    """setup.py's data globs take the current release's folder; earlier releases stay in
    the repository (one 25.7 MB weights file each would push the wheel past PyPI's 100 MB)."""
    setup = ast.parse((ROOT / "setup.py").read_text())
    (call,) = [node for node in ast.walk(setup)
               if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"]
    package_data = ast.literal_eval(
        next(k.value for k in call.keywords if k.arg == "package_data"))["pclr_keras"]
    shipped = {path.relative_to(presets.PACKAGE_DIR).as_posix()
               for path in presets.WEIGHTS_DIR.rglob("*") if path.is_file()
               and any(fnmatch.fnmatch(path.relative_to(presets.PACKAGE_DIR).as_posix(), glob)
                       for glob in package_data)}
    ours = [p for p in PRESETS.values() if p.name.startswith("pclr-ptbxl-v")]
    assert [p.name for p in ours if p.packaged] == [ALIASES["pclr-ptbxl"]]
    assert all(p.archived and (presets.ARCHIVE_DIR / p.name / presets.PRESET_WEIGHTS).is_file()
               for p in ours if not p.packaged)
    for preset in PRESETS.values():
        assert preset.archived or preset.model_card in shipped, preset.name
        if preset.packaged:
            assert {f"weights/{preset.packaged}/{name}" for name in (
                presets.PRESET_CONFIG, presets.PRESET_METADATA, presets.PRESET_WEIGHTS,
                presets.PRESET_CARD)} <= shipped


def test_ml4h_presets_are_pinned_to_ml4h_lfs_pointers():
    ml4h = PRESETS["pclr-ml4h"]
    (weights,) = ml4h.files
    assert weights.sha256 == "50ca4fe3dd60c83d92eb4cd96cab4204e48193d6d42ee1704b758ab58675c9be"
    assert weights.size == 25_690_896
    assert weights.url.startswith("https://media.githubusercontent.com/media/broadinstitute/ml4h/")
    assert weights.url.endswith("/model_zoo/PCLR/PCLR.h5")
    lead_i = {Path(f.path).name: f for f in PRESETS["pclr-ml4h-lead-I"].files}
    assert lead_i["variables.data-00000-of-00001"].sha256.startswith("ed447ea195ee03ee")
    assert lead_i["variables.data-00000-of-00001"].size == 25_555_425
    lead_ii = {Path(f.path).name: f for f in PRESETS["pclr-ml4h-lead-II"].files}
    assert lead_ii["variables.data-00000-of-00001"].sha256.startswith("59347e3fb27c3fb9")
    assert {name for name in lead_i} == {"saved_model.pb", "variables.index",
                                         "variables.data-00000-of-00001"}
    assert (PRESETS["pclr-ml4h-lead-II"].variant, PRESETS["pclr-ml4h-lead-II"].input_shape) == (
        "lead_II", (2500, 1))


def test_pclr_presets_and_version(capsys):
    from pclr_keras import __version__

    assert pclr_main(["presets"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in PRESETS) and "(= pclr-ptbxl)" in table
    assert pclr_main(["presets", "pclr-ml4h"]) == 0
    details = capsys.readouterr().out
    assert "50ca4fe3dd60c83d92eb4cd96cab4204e48193d6d42ee1704b758ab58675c9be" in details
    assert "GPL-3.0" in details
    with pytest.raises(SystemExit) as caught:
        pclr_main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.strip() == f"pclr-keras {__version__}"
    setup_version = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1]
    assert setup_version == __version__
