"""Every third-party module the project imports is a requirement setup.py declares.

A module imported at the top of a file must be in `install_requires`; one
imported inside a function may instead be in an extra (the lazy import is what
lets the package load without it). Tests, benchmarks and notebooks may also
use the `dev` extra. Modules are mapped to distributions with
`importlib.metadata.packages_distributions`, so `sklearn` is `scikit-learn`.
"""

import ast
import importlib.metadata
import json
import re
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]


def declared_requirements(setup_py):
    """(install_requires, {extra: [...]}) as distribution names, read from setup.py's source."""
    call = next(node for node in ast.walk(ast.parse(setup_py.read_text()))
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords
                if k.arg in ("install_requires", "extras_require")}

    def names(requirements):
        return {normalise(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}

    return (names(keywords.get("install_requires", [])),
            {extra: names(reqs) for extra, reqs in keywords.get("extras_require", {}).items()})


def normalise(distribution):
    return re.sub(r"[-_.]+", "-", distribution).lower()


def imports(source, filename):
    """(top-level module, line, imported at module level?) for each absolute import."""
    tree = ast.parse(source, filename)
    module_level = {id(node) for node in tree.body}
    module_level |= {id(node) for block in tree.body if isinstance(block, (ast.If, ast.Try))
                     for node in ast.walk(block)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], node.lineno, id(node) in module_level


def notebook_source(path):
    """The code cells of a notebook, IPython magics and shell lines dropped."""
    cells = json.loads(path.read_text())["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines()
             if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def distributions_of(module, module_to_distributions):
    found = module_to_distributions.get(module)
    # An extra that is not installed here: fall back to the module's own name.
    return {normalise(d) for d in found} if found else {normalise(module)}


def local_modules(path):
    """Modules a file may import by bare name: those of its own folder and, in a
    subfolder of tests/, those of tests/ (its conftest puts that folder on sys.path)."""
    folders = [path.parent, *(p for p in path.parent.parents if p.is_relative_to(ROOT / "tests"))]
    return {p.stem for folder in folders for p in folder.glob("*.py")}


def undeclared_imports(files, required, optional, first_party):
    """Lines 'file:line imports X (distribution ...)' for imports setup.py does not cover."""
    module_to_distributions = importlib.metadata.packages_distributions()
    problems = []
    for path in files:
        source = notebook_source(path) if path.suffix == ".ipynb" else path.read_text()
        local = local_modules(path)
        for module, line, at_top in imports(source, str(path)):
            if module in sys.stdlib_module_names or module in first_party or module in local:
                continue
            distributions = distributions_of(module, module_to_distributions)
            allowed = required if at_top else required | optional
            if not distributions & allowed:
                where = "install_requires" if at_top else "install_requires or an extra"
                problems.append(f"{shown(path)}:{line} imports {module} "
                                f"(distribution {', '.join(sorted(distributions))}), "
                                f"which is not in setup.py's {where}")
    return problems


def shown(path):
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def project_files(*folders, patterns=("*.py",)):
    return sorted(p for folder in folders for pattern in patterns
                  for p in (ROOT / folder).rglob(pattern) if ".ipynb_checkpoints" not in p.parts)


# model_zoo/PCLR keeps ml4h's module names (build_model, preprocess_ecg, ...).
FIRST_PARTY = {"pclr_keras", "model_zoo"} | {p.stem for p in project_files("model_zoo")}


# Sub-packages that belong to an extra: their `__init__` is the lazy gate (it
# imports the extra only when called, with the install message), so the
# modules behind it may import the extra at their top.
EXTRA_SUBPACKAGES = {"pclr_keras/pipelines": "beam"}


def test_package_imports_are_declared():
    required, extras = declared_requirements(ROOT / "setup.py")
    # `dev` is for the tests; the package may lean on the user-facing extras only.
    optional = set().union(*(reqs for extra, reqs in extras.items() if extra != "dev"))
    behind_gate = {path: extra for folder, extra in EXTRA_SUBPACKAGES.items()
                   for path in project_files(folder) if path.name != "__init__.py"}
    problems = undeclared_imports(
        [p for p in project_files("pclr_keras", "model_zoo") if p not in behind_gate],
        required, optional, FIRST_PARTY)
    for path, extra in behind_gate.items():
        problems += undeclared_imports([path], required | extras[extra], optional, FIRST_PARTY)
    assert not problems, "\n".join(problems)


def test_extra_subpackages_are_imported_only_through_their_gate():
    """Nothing outside such a sub-package imports its modules at module level."""
    problems = []
    for path in project_files("pclr_keras", "model_zoo"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for folder in EXTRA_SUBPACKAGES:
                package = folder.replace("/", ".")
                if (any(n.startswith(package) for n in names)
                        and not path.is_relative_to(ROOT / folder)):
                    problems.append(f"{shown(path)}:{node.lineno} imports {package} at the top")
    assert not problems, "\n".join(problems)


def test_tests_benchmarks_and_notebooks_imports_are_declared():
    required, extras = declared_requirements(ROOT / "setup.py")
    everything = required | set().union(*extras.values())
    files = project_files("tests", "benchmarks") + project_files("notebooks",
                                                                  patterns=("*.ipynb",))
    problems = undeclared_imports(files, everything, everything, FIRST_PARTY)
    assert not problems, "\n".join(problems)


def test_a_requirement_removed_from_setup_py_is_reported(tmp_path):
    """The check itself: drop pyarrow from a copy of setup.py and it must complain."""
    setup_py = tmp_path / "setup.py"
    setup_py.write_text((ROOT / "setup.py").read_text().replace('"pyarrow>=12",', ""))
    required, extras = declared_requirements(setup_py)
    assert "pyarrow" not in required and "scikit-learn" in required
    files = sorted((ROOT / "pclr_keras").glob("*.py")) + \
        sorted((ROOT / "pclr_keras" / "embedding").glob("*.py"))
    problems = undeclared_imports(files, required, set().union(*extras.values()), FIRST_PARTY)
    assert problems and all("imports pyarrow" in p for p in problems)
    assert any(p.startswith("pclr_keras/embedding/parts.py:") for p in problems)


def test_an_extra_imported_at_module_level_is_reported(tmp_path):
    module = tmp_path / "eager.py"
    module.write_text("import nbformat\n\ndef later():\n    import nbclient\n")
    problems = undeclared_imports([module], required={"numpy"},
                                  optional={"nbformat", "nbclient"}, first_party=set())
    assert len(problems) == 1 and "imports nbformat" in problems[0]
