"""The report's Markdown: per target and metric, representation x label count.

Written for a reader comparing representations at a glance: one table per
target and metric, the 95 % interval beside each mean, the retrieval table
last, with chance beside each number.
"""

import numpy as np

from pclr_keras.evaluation.metrics import display_names

PROBE_INTRO = ("Mean over training subsets of the metric on the held-out ECGs; in brackets, "
               "the 95 % interval from resampling held-out patients (see "
               "`pclr_keras.evaluation.probe`). Columns: number of labelled ECGs.")
RETRIEVAL_INTRO = ("Fraction of ECGs (of patients with >= 2 ECGs) whose k nearest neighbours "
                   "by cosine include another ECG of the same patient; chance in brackets.")


def _cell(row):
    if row is None:
        return "n/a"
    if np.isfinite(row["ci_low"]):
        return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    return f"{row['mean']:.3f}"


def _fewer_repeats(table):
    """Lines naming representations fitted on fewer subsets than the header says."""
    most = table.groupby("n_labels")["repeats"].transform("max")
    lines = []
    for name, rows in table[table["repeats"] < most].groupby("representation", sort=False):
        lines += [f"Fewer repeats for {name}: " + ", ".join(
            f"{int(r.n_labels)}: {int(r.repeats)}" for r in rows.itertuples()) + ".", ""]
    return lines


def _metric_table(target, name, table, first):
    """The lines of one target's table for one metric (`first`: a row for the counts)."""
    counts = sorted(table["n_labels"].unique())
    lines = [f"## {target}: {name}", "",
             f"{int(first['n_test'])} held-out ECGs of {int(first['n_test_patients'])}"
             f" patients; repeats per count: "
             + ", ".join(f"{n}: {int(table[table.n_labels == n].repeats.max())}"
                         for n in counts), "",
             *_fewer_repeats(table),
             "| representation | " + " | ".join(str(n) for n in counts) + " |",
             "|---|" + "---|" * len(counts)]
    for representation, rows in table.groupby("representation", sort=False):
        by_count = {r["n_labels"]: r for _, r in rows.iterrows()}
        lines.append(f"| {representation} | " + " | ".join(
            _cell(by_count.get(n)) for n in counts) + " |")
    lines.append("")
    return lines


def _retrieval_lines(retrieval):
    """The retrieval section: one row per representation, chance in brackets."""
    ks = [c[3:] for c in retrieval.columns if c.startswith("top")]
    lines = ["# Same-patient retrieval", "", RETRIEVAL_INTRO, "",
             "| representation | ECGs | queries | " + " | ".join(f"top-{k}" for k in ks)
             + " |", "|---|---|---|" + "---|" * len(ks)]
    for _, row in retrieval.iterrows():
        lines.append(f"| {row['representation']} | {int(row['n_ecgs'])} | "
                     f"{int(row['n_queries'])} | " + " | ".join(
                         f"{row[f'top{k}']:.3f} ({row[f'chance_top{k}']:.3f})" for k in ks)
                     + " |")
    lines.append("")
    return lines


def markdown_report(summary, metric_names=None, retrieval=None):
    """The Markdown of `write_report`: per target and metric, representation x label count."""
    metrics = display_names(summary, metric_names)
    lines = ["# Linear probes", "", PROBE_INTRO, ""]
    for target, by_target in summary.groupby("target", sort=False):
        first = by_target.iloc[0]
        for key, name in metrics.items():
            table = by_target[by_target["metric"] == key]
            if not table.empty:
                lines += _metric_table(target, name, table, first)
    if retrieval is not None and len(retrieval):
        lines += _retrieval_lines(retrieval)
    return "\n".join(lines)
