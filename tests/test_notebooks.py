"""The notebooks run from top to bottom, so they never rot."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# What each notebook must print when it works.
EXPECTED_OUTPUT = {
    "quickstart.ipynb": ["(4096, 12) float32 -> (1, 320)", "microvolts", "flat_lead",
                         "(200, 320) 42% female", "representation            metric  n_labels"],
    "pretraining.ipynb": ['"patients_with_2_or_more_ecgs": 40', "step  40: held-out loss",
                          "(4, 16)"],
    "finetuning.ipynb": ["unfrozen {", "val_sex_auc", "'sex': array("],
}


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      for output in cell.get("outputs", []))
    for expected in EXPECTED_OUTPUT[name]:
        assert expected in printed
