"""The report folder: the probe table as CSV and Markdown, one plot per target, retrieval.

One call writes everything a comparison produces, under fixed names, so
`pclr probe` and `pclr experiment` leave the same folder layout.
"""

from pathlib import Path

from pclr_keras.evaluation.plots import plot_probe
from pclr_keras.evaluation.tables import markdown_report


def _safe(name):
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def write_report(summary, out_dir, metric_names=None, *, retrieval=None):
    """Writes the probe table (CSV + Markdown) and one plot per target.

    Args:
        summary: DataFrame, `ProbeResult.summary` (several targets may be
            concatenated).
        out_dir: str or Path. Created if needed.
        metric_names: None (every metric, default names), a list of metric
            keys, or a dict key -> display name (those metrics, in that order).
        retrieval: optional DataFrame from `retrieval_table`; written as
            `retrieval.csv` and a section of the Markdown.

    Returns:
        dict name -> Path: csv (`probe_results.csv`), markdown
        (`probe_results.md`), `plot_<target>` (`probe_<target>.png`) and
        `retrieval` when given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = dict(csv=out / "probe_results.csv", markdown=out / "probe_results.md")
    summary.to_csv(paths["csv"], index=False)
    paths["markdown"].write_text(markdown_report(summary, metric_names, retrieval),
                                 encoding="utf-8")
    for target, rows in summary.groupby("target", sort=False):
        paths[f"plot_{target}"] = plot_probe(rows, out / f"probe_{_safe(target)}.png",
                                             metric_names)
    if retrieval is not None:
        paths["retrieval"] = out / "retrieval.csv"
        retrieval.to_csv(paths["retrieval"], index=False)
    return paths
