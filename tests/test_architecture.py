"""The package's shape: modules talk through public names, readers stay below
preprocessing, and every function fits on a screen or two."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pclr_keras"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def _python_files(*folders):
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def _module_name(path):
    parts = path.with_suffix("").parts
    parts = parts[max(i for i, part in enumerate(parts) if part in ("pclr_keras", "benchmarks")):]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node, path):
    """The module an `ImportFrom` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def private_reach_ins(path):
    """Places in `path` that import or touch an underscore name of another module."""
    tree = ast.parse(path.read_text())
    hits, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, path)
            if not source.startswith("pclr_keras"):
                continue
            for alias in node.names:
                if _private(alias.name):
                    hits.append(f"{path.name}:{node.lineno} imports {source}.{alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pclr_keras"):
                    if any(_private(part) for part in alias.name.split(".")):
                        hits.append(f"{path.name}:{node.lineno} imports {alias.name}")
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            value = node.value
            while isinstance(value, ast.Attribute):
                value = value.value
            if isinstance(value, ast.Name) and value.id in modules:
                hits.append(f"{path.name}:{node.lineno} uses {ast.unparse(node)}")
    return hits


@pytest.mark.parametrize("path", _python_files("pclr_keras", "benchmarks"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reaches_into_another_modules_private_names(path):
    assert private_reach_ins(path) == []


def test_the_private_name_check_finds_reach_ins(tmp_path):
    folder = tmp_path / "pclr_keras" / "pipelines"
    folder.mkdir(parents=True)
    sample = folder / "sample.py"
    sample.write_text("from pclr_keras.embedding import _helper, public\n"
                      "from .. import tensorize\n"
                      "import pclr_keras.data as data\n"
                      "tensorize._ecg_rows(1)\ndata._SHARD.format(1)\npublic._x\n")
    hits = sorted(hit.split(" ", 1)[1] for hit in private_reach_ins(sample))
    assert hits == ["imports pclr_keras.embedding._helper", "uses data._SHARD",
                    "uses public._x", "uses tensorize._ecg_rows"]


def _functions(path):
    tree = ast.parse(path.read_text())
    return [node for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_every_function_fits_on_a_screen():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} "
            f"({node.end_lineno - node.lineno + 1} lines)"
            for path in _python_files("pclr_keras") for node in _functions(path)
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_no_module_is_a_grab_bag():
    big = [f"{path.relative_to(ROOT)} ({lines} lines)" for path in _python_files("pclr_keras")
           if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES]
    assert big == []


def _architecture_names(path):
    """How ARCHITECTURE.md names a module: `training/loop.py`, or `training/` for a package."""
    relative = path.relative_to(PACKAGE)
    return f"{relative.parent.as_posix()}/" if relative.name == "__init__.py" else relative.as_posix()


def test_architecture_md_names_every_module():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`([\w/.]+)`", text))
    missing = [name for path in _python_files("pclr_keras")
               if (name := _architecture_names(path)) != "./" and name not in named]
    assert missing == []


def objective_branches(path):
    """Comparisons of an objective's name with a string: each objective is an object."""
    def is_objective(node):
        return (isinstance(node, ast.Attribute) and node.attr == "objective") or \
            (isinstance(node, ast.Name) and node.id == "objective")

    def is_text(node):
        return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or \
            (isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts and
             all(is_text(element) for element in node.elts))

    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(map(is_objective, sides)) and any(map(is_text, sides)):
                hits.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    return hits


def test_no_code_branches_on_an_objective_name():
    registry = PACKAGE / "training" / "objectives"
    assert [hit for path in _python_files("pclr_keras") if registry not in path.parents
            for hit in objective_branches(path)] == []


def test_the_objective_branch_check_finds_branches(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("if config.objective == 'simclr':\n    pass\n"
                      "x = objective in ('pclr', 'clocs')\ny = config.objective is not None\n")
    assert [hit.split(" ", 1)[1] for hit in objective_branches(sample)] == [
        "config.objective == 'simclr'", "objective in ('pclr', 'clocs')"]


def test_readers_import_no_preprocessing():
    """Reading sits below preprocessing: a reader may use the lead vocabulary
    (`pclr_keras.variants`), never the preprocessing that consumes its output."""
    found = []
    for path in _python_files("pclr_keras/io"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [_absolute(node, path)] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"{path.name}:{node.lineno} {name}" for name in names
                      if name.split(".")[:2] in (["pclr_keras", "preprocess"],
                                                 ["pclr_keras", "graph_preprocess"])]
    assert found == []


def test_reading_and_ingesting_load_without_tensorflow():
    """Bulk worker processes read and preprocess files without paying for TensorFlow."""
    code = ("import sys, pclr_keras, pclr_keras.ingest, pclr_keras.tensorize, pclr_keras.io, "
            "pclr_keras.preprocess; pclr_keras.read_wfdb; pclr_keras.preprocess_ecg; "
            "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT)
    assert done.returncode == 0


def _imported_modules(path):
    """The pclr_keras modules `path` imports (`a.b` for `from a.b import c` and `import a.b`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, path)
            found |= {source} | {f"{source}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("pclr_keras.")}


def _layers():
    """ARCHITECTURE.md's picture of the import flow: {place: floor}, floor 0 at the bottom."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    picture = text.split("## Which way imports flow", 1)[1].split("```")[1].strip().splitlines()
    return {place.strip(): floor for floor, line in enumerate(reversed(picture))
            for place in re.split(r"\s{2,}", line)[0].split(",")}


def _floor(module, layers):
    """The floor of `pclr_keras.a.b`, from the deepest place of the picture that holds it."""
    parts = module.split(".")[1:]
    for depth in range(len(parts), 0, -1):
        stem = "/".join(parts[:depth])
        for place in (f"{stem}.py", f"{stem}/"):
            if place in layers:
                return layers[place]
    return None


def test_imports_run_down_the_architecture_picture():
    layers = _layers()
    upward = []
    for path in _python_files("pclr_keras"):
        module = _module_name(path)
        floor = _floor(module, layers)
        if floor is None:
            continue  # an old path re-exporting its new home (next test)
        upward += [f"{module} (floor {floor}) imports {name} (floor {_floor(name, layers)})"
                   for name in sorted(_imported_modules(path))
                   if (_floor(name, layers) or 0) > floor]
    assert upward == []


def test_only_the_old_paths_are_outside_the_picture_and_nothing_imports_them():
    layers = _layers()
    outside = {_module_name(path) for path in _python_files("pclr_keras")
               if _floor(_module_name(path), layers) is None} - {"pclr_keras"}
    old_paths = (ROOT / "ARCHITECTURE.md").read_text().split("## Old module paths", 1)[1] \
        .split("##", 1)[0]
    assert sorted(outside) == sorted(
        f"pclr_keras.{name[:-3]}" for name in re.findall(r"`(\w+\.py)`", old_paths))
    users = [f"{_module_name(path)} imports {name}" for path in _python_files("pclr_keras")
             for name in _imported_modules(path) & outside]
    assert users == []
