"""The objectives' registry: one list, the CLI's choices, no branch on a name elsewhere."""

import ast
from pathlib import Path

import pytest

from pclr_keras.cli import build_parser
from pclr_keras.training import CONTRASTIVE, OBJECTIVES, PretrainConfig
from pclr_keras.training.objectives import REGISTRY, Objective, get_objective
from pclr_keras.training.objectives.contrastive import ContrastiveObjective

PACKAGE = Path(__file__).resolve().parents[2] / "pclr_keras"
REGISTRY_MODULE = PACKAGE / "training" / "objectives" / "__init__.py"


def test_registry_lists_every_objective_once_in_the_cli_order():
    assert OBJECTIVES == ("pclr", "simclr", "clocs", "autoencoder", "supervised")
    assert CONTRASTIVE == ("pclr", "simclr", "clocs")
    for name, objective in REGISTRY.items():
        assert issubclass(objective, Objective) and objective.name == name
        assert objective.contrastive == issubclass(objective, ContrastiveObjective)
    assert get_objective("clocs") is REGISTRY["clocs"]
    with pytest.raises(ValueError, match=r"Unknown objective 'moco'; choose one of \['pclr'"):
        get_objective("moco")


def test_pclr_pretrain_offers_the_registered_objectives():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    objective = next(a for a in commands["pretrain"]._actions if a.dest == "objective")
    assert tuple(objective.choices) == OBJECTIVES


def test_objectives_refuse_what_they_cannot_train():
    with pytest.raises(ValueError, match="supervised objective needs targets"):
        PretrainConfig(objective="supervised")
    with pytest.raises(ValueError, match=r"lead masking is for the contrastive objectives "
                                         r"\('pclr', 'simclr', 'clocs'\), not 'autoencoder'"):
        PretrainConfig(objective="autoencoder", lead_mask=0.5)
    with pytest.raises(ValueError, match="Unknown objective 'moco'"):
        PretrainConfig(objective="moco")


def name_comparisons(path, root=PACKAGE):
    """`objective == "pclr"`-like tests in `path`: an objective compared with a name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            names = [ast.unparse(side) for side in sides if isinstance(side, (ast.Name,
                                                                             ast.Attribute))]
            constants = [c for side in sides for c in (
                side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side])]
            strings = [c.value for c in constants if isinstance(c, ast.Constant)
                       and c.value in OBJECTIVES]
            if strings and any("objective" in name for name in names):
                found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_module_but_the_registry_branches_on_an_objective_name():
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != REGISTRY_MODULE
             for hit in name_comparisons(path)]
    assert found == []


def test_the_name_check_finds_a_branch(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("if config.objective == 'simclr':\n    pass\n"
                      "if x == 'pclr' or objective in ('pclr', 'clocs'):\n    pass\n"
                      "if objective != 'pclr':\n    pass\n")
    assert sorted(name_comparisons(sample, tmp_path)) == [
        "sample.py:1 config.objective == 'simclr'", "sample.py:3 objective in ('pclr', 'clocs')",
        "sample.py:5 objective != 'pclr'"]
