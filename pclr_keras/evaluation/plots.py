"""The report's plot: metric against the number of labelled ECGs, one line per representation.

Drawn on an Agg canvas of its own, without pyplot, so that writing a report
never touches a global Matplotlib backend.
"""

from pathlib import Path

from pclr_keras.evaluation.metrics import display_names


def plot_probe(summary, path, metric_names=None):
    """Metric vs number of labels (log x), a line and 95 % band per representation.

    One PNG for one target: one panel per metric.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics = display_names(summary, metric_names)
    figure = Figure(figsize=(5.2 * len(metrics), 4.0))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(metrics), squeeze=False)
    target = summary["target"].iloc[0]
    for ax, (key, name) in zip(axes[0], metrics.items()):
        table = summary[summary["metric"] == key]
        for representation, rows in table.groupby("representation", sort=False):
            rows = rows.sort_values("n_labels")
            line, = ax.plot(rows["n_labels"], rows["mean"], marker="o", label=representation)
            if rows["ci_low"].notna().any():
                ax.fill_between(rows["n_labels"], rows["ci_low"], rows["ci_high"],
                                color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_xlabel("number of labelled ECGs")
        ax.set_ylabel(name)
        ax.set_title(f"{target}: {name}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return Path(path)


def plot_lead_sets(rows, path, title):
    """Fold-10 macro AUROC per lead set given, one line (with its 95 % interval) per model.

    Args:
        rows: DataFrame with model, leads, auroc, ci_low, ci_high (one
            training fraction, one label set).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    order = list(dict.fromkeys(rows["leads"]))
    for model, part in rows.groupby("model", sort=False):
        part = part.set_index("leads").reindex(order)
        x = range(len(order))
        ax.errorbar(x, part["auroc"], yerr=[part["auroc"] - part["ci_low"],
                                            part["ci_high"] - part["auroc"]],
                    marker="o", capsize=3, label=model)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("leads given (the others zero)")
    ax.set_ylabel("macro AUROC, fold 10")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(Path(path), dpi=120, metadata={"Software": None})
