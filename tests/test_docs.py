"""The documentation works as written: its code blocks run, its commands parse.

Every ```python block of README.md, the site's pages (docs/), model_zoo/**/*.md
and the presets' model cards runs, in order, in one namespace per file, from
the PTB-XL sample folder (the examples' relative paths are written for it). A
block that needs what a test cannot have is marked on the line before it with
`<!-- needs: WHAT -->` and skipped with that reason. Every `pclr` command in a
```bash block of the site must be accepted by the command's parser (the
README's are checked with the command line's own tests), and the README's
links into the site and the repository point at files that exist.
"""

import re
import shlex
from pathlib import Path

import pytest

from conftest import require_shared

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
DOCUMENTS = [README, *PAGES, *sorted((ROOT / "model_zoo").rglob("*.md")),
             *sorted((ROOT / "pclr_keras" / "weights").glob("*/README.md"))]
BLOCK = re.compile(r"(?:<!--\s*needs:\s*(?P<needs>.*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```",
                   re.S)
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def python_blocks(path):
    """(line, code, needs) of each python block; needs is the marker's text or None."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start("code")) + 1, match.group("code"),
             match.group("needs")) for match in BLOCK.finditer(text)]


def pclr_commands(markdown):
    """argv lists of the `pclr` invocations in a Markdown text's bash blocks.

    Continuation lines are joined, a quoted newline stays inside its command,
    comments and `VAR=value` prefixes are dropped, and `&&`, `||`, `;` and `|`
    separate commands.
    """
    for block in re.findall(r"```bash\n(.*?)```", markdown, re.S):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending = f"{pending}\n{line}" if pending else line
            try:
                tokens = shlex.split(pending, comments=True)
            except ValueError:  # a quote is still open: the command goes on
                continue
            pending = ""
            words = []
            for token in tokens + ["&&"]:
                if token not in ("&&", "||", ";", "|"):
                    words.append(token)
                    continue
                words = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
                if words and words[0] == "pclr":
                    yield words[1:]
                words = []


BLOCKS = [(path, *block) for path in DOCUMENTS for block in python_blocks(path)]
# Every page a user copies `pclr` commands from: the site, the cards, the benchmarks.
COMMAND_PAGES = [*DOCUMENTS, ROOT / "benchmarks" / "README.md"]
COMMANDS = [(page, argv) for page in COMMAND_PAGES for argv in pclr_commands(page.read_text())]
_NAMESPACES = {}


def test_the_readme_quick_start_uses_a_preset_name():
    line, code, needs = python_blocks(README)[0]
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


def test_the_site_documents_every_bulk_command():
    documented = {argv[0] for _, argv in COMMANDS}
    assert {"demo", "tensorize", "pretrain", "embed", "probe", "experiment", "finetune",
            "datasets", "export"} <= documented


@pytest.mark.parametrize("page, argv", COMMANDS,
                         ids=[f"{p.relative_to(ROOT)}:{' '.join(a[:1])}" for p, a in COMMANDS])
def test_site_pclr_command_parses(page, argv):
    from pclr_keras.cli import build_parser

    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{page.relative_to(ROOT)}: `pclr {' '.join(argv)}` is refused by the parser")


def test_command_extraction_handles_chains_comments_and_quoted_newlines():
    markdown = ("```bash\npip install x && pclr demo\n"
                "pclr embed --data a/ --out b.csv --shard 0/4   # machine 1 of 4\n"
                "TF_CONFIG='{\"a\": 1,\n \"b\": 2}' \\\n  pclr pretrain --data d --out o\n```\n")
    assert list(pclr_commands(markdown)) == [
        ["demo"], ["embed", "--data", "a/", "--out", "b.csv", "--shard", "0/4"],
        ["pretrain", "--data", "d", "--out", "o"]]


def test_readme_links_point_at_files_that_exist():
    targets = [match.group("target") for match in LINK.finditer(README.read_text())]
    local = [t.split("#")[0] for t in targets if not re.match(r"^[a-z]+:", t) and t[0] != "#"]
    assert any(target.startswith("docs/") for target in local), "the README links into the site"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_readme_is_a_front_page():
    # The site holds the detail; the README says what this is, how to set it
    # up, a quick start and a results summary, and links into the site.
    lines = README.read_text().count("\n")
    assert lines < 200, f"README.md has {lines} lines; move detail into docs/"
