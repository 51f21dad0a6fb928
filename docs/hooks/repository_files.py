"""MkDocs hook: the released encoder's plots, served from where they live.

The plots stay in `model_zoo/PCLR/evaluation/` and `model_zoo/PCLR/results/`
beside the results they draw; the site serves them at the same relative
paths instead of keeping copies in docs/ that could drift from the model card.
"""

from pathlib import Path

from mkdocs.structure.files import File

MODEL_ZOO = Path(__file__).resolve().parents[2] / "model_zoo" / "PCLR"
PLOTS = MODEL_ZOO / "evaluation"


def on_files(files, config):
    """Add each probe plot to the site's files, so pages link to it and the build checks the links."""
    for plot in sorted(PLOTS.glob("probe_*.png")):
        files.append(File.generated(config, f"evaluation/{plot.name}", abs_src_path=str(plot)))
    for plot in sorted((MODEL_ZOO / "results").glob("*/*.png")):
        name = plot.relative_to(MODEL_ZOO).as_posix()
        files.append(File.generated(config, name, abs_src_path=str(plot)))
    return files
