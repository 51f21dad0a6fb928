"""MkDocs hook: the released encoder's probe plots, served from where they live.

The plots stay in `model_zoo/PCLR/evaluation/` beside the results they
draw; the site serves them as `evaluation/*.png` instead of keeping copies
in docs/ that could drift from the model card.
"""

from pathlib import Path

from mkdocs.structure.files import File

PLOTS = Path(__file__).resolve().parents[2] / "model_zoo" / "PCLR" / "evaluation"


def on_files(files, config):
    """Add each probe plot to the site's files, so pages link to it and the build checks the links."""
    for plot in sorted(PLOTS.glob("probe_*.png")):
        files.append(File.generated(config, f"evaluation/{plot.name}", abs_src_path=str(plot)))
    return files
