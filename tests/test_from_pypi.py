"""The README's "From PyPI" block, as `.ci/check_from_pypi.py` reads and runs it.

CI runs that script with the built wheel installed alone (`.ci/run`'s last
step); here, what it reads and what it refuses.
"""

import importlib.util
import shlex
from pathlib import Path

import pytest

from pclr_keras.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _check_script():
    spec = importlib.util.spec_from_file_location("check_from_pypi",
                                                  ROOT / ".ci" / "check_from_pypi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_block_installs_writes_the_sample_and_runs_the_demo_on_it():
    lines = _check_script().from_pypi_block(ROOT / "README.md")
    assert lines == ["pip install pclr-keras", "pclr datasets sample ptbxl_sample/",
                     "pclr demo --data ptbxl_sample/"]
    for line in lines[1:]:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert Path(getattr(args, "data", None) or args.name) == Path("ptbxl_sample")


def test_the_check_refuses_a_package_imported_from_the_clone(tmp_path):
    with pytest.raises(AssertionError, match="^pclr_keras imported from the clone: "):
        _check_script().main(ROOT / "README.md", tmp_path / "from-pypi")
    assert not (tmp_path / "from-pypi").exists()
