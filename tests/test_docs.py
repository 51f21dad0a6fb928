"""The documentation's Python blocks run as written, against the PTB-XL sample.

Every ```python block of README.md, model_zoo/**/*.md and the presets' model
cards runs, in order, in one namespace per file, from the PTB-XL sample
folder (the Quick start's relative paths are written for it). A block that
needs what a test cannot have is marked on the line before it with
`<!-- needs: WHAT -->` and skipped with that reason.
"""

import re
from pathlib import Path

import pytest

from conftest import require_shared

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "model_zoo").rglob("*.md")),
             *sorted((ROOT / "pclr_keras" / "weights").glob("*/README.md"))]
BLOCK = re.compile(r"(?:<!--\s*needs:\s*(?P<needs>.*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```",
                   re.S)


def python_blocks(path):
    """(line, code, needs) of each python block; needs is the marker's text or None."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start("code")) + 1, match.group("code"),
             match.group("needs")) for match in BLOCK.finditer(text)]


BLOCKS = [(path, *block) for path in DOCUMENTS for block in python_blocks(path)]
_NAMESPACES = {}


def test_the_readme_quick_start_uses_a_preset_name():
    line, code, needs = python_blocks(ROOT / "README.md")[0]
    assert needs is None and 'load_encoder("pclr-ptbxl")' in code


@pytest.mark.parametrize("path, line, code, needs", BLOCKS,
                         ids=[f"{p.relative_to(ROOT)}:{line}" for p, line, _, _ in BLOCKS])
def test_python_block_runs(path, line, code, needs, monkeypatch):
    if needs:
        pytest.skip(f"{path.name}:{line} needs {needs}")
    monkeypatch.chdir(require_shared("data/ptbxl"))
    monkeypatch.setenv("PCLR_OFFLINE", "1")  # a block that would download fails instead
    namespace = _NAMESPACES.setdefault(path, {"__name__": "__readme__"})
    exec(compile(code, f"{path}:{line}", "exec"), namespace)
