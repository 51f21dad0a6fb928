"""Cards written from results files: every figure in a card's tables is read from one.

A card marks each generated part with a comment that names what to render
from which file, and the text between the markers is rewritten from the
file each time:

    <!-- results: linear v0.3/ptbxl_linear_fold10.json superdiagnostic -->
    ...generated...
    <!-- /results -->

Paths are relative to the results folder. A part whose file does not exist
says so ("no result file"), so a card never shows a figure that no file
holds. `render_card` returns the new text; `benchmarks/cards.py` writes the
cards and, with `--check`, fails when one differs from what its results
give.
"""

import json
import re
import shlex
from pathlib import Path

import pandas as pd

from pclr_keras.evaluation.results import read_results
from pclr_keras.variants import LEAD_SETS

MARKER = re.compile(r"(<!-- results: (?P<spec>[^>]*?) -->\n)(?P<body>.*?)(<!-- /results -->)",
                    re.DOTALL)
FRACTION_NAMES = {0.01: "1 %", 0.1: "10 %", 1.0: "100 %"}


def render_card(text, results_dir):
    """`text` with every marked part rendered from the results in `results_dir`."""
    def replace(match):
        body = render_part(match["spec"], Path(results_dir))
        return match[1] + body.rstrip("\n") + "\n" + match[4]
    return MARKER.sub(replace, text)


def render_part(spec, results_dir):
    """The Markdown of one marked part: `KIND FILE [ARGS...]`."""
    kind, file, *args = shlex.split(spec)
    path = results_dir / file
    if kind not in RENDERERS:
        raise ValueError(f"unknown results part {kind!r}; known: {sorted(RENDERERS)}")
    if not path.exists():
        return f"*No result file (`{file}`): not measured.*\n"
    return RENDERERS[kind](path, *args)


def _interval(value, ci95, digits=3):
    return f"{value:.{digits}f} [{ci95[0]:.{digits}f}, {ci95[1]:.{digits}f}]"


def _fraction_header(rows):
    return {f: f"{FRACTION_NAMES.get(f, f'{f:g}')} ({n:,} ECGs)" for f, n in
            rows.groupby("fraction").train_ecgs.first().items()}


def linear_table(path, label_set, *names):
    """Fold-10 macro AUROC per representation (rows) and training fraction (columns)."""
    results = read_results(path)
    rows = pd.DataFrame(results["linear"])
    rows = rows[(rows.label_set == label_set) & (rows.subgroup == "all")]
    if names:
        rows = rows[rows.representation.isin(names)]
    if rows.empty:
        return f"*Not measured in `{path.parent.name}/{path.name}`: no {label_set} rows" + (
            f" for {', '.join(names)}" if names else "") + ".*\n"
    header = _fraction_header(rows)
    lines = [f"| representation | {' | '.join(header.values())} |",
             "|---|" + "---|" * len(header)]
    for name, part in rows.groupby("representation", sort=False):
        cells = {r.fraction: _interval(r.auroc, r.ci95) for r in part.itertuples()}
        lines.append(f"| {name} | " + " | ".join(cells.get(f, "—") for f in header) + " |")
    labels = int(rows.labels.iloc[0]) if len(rows) else 0
    return "\n".join(lines) + (f"\n\n{labels} labels scored on fold 10; 95 % intervals from "
                               f"{results['provenance']['seeds'].get('n_boot', 1000):,} "
                               "resamples of fold-10 patients. "
                               + _source(path, results) + "\n")


def subgroup_table(path, label_set, name):
    """One representation's fold-10 macro AUROC within each subgroup."""
    results = read_results(path)
    rows = pd.DataFrame(results["linear"])
    rows = rows[(rows.label_set == label_set) & (rows.representation == name)]
    if rows.subgroup.nunique() < 2:
        return f"*No subgroup figures for {name} in `{path.name}`.*\n"
    header = _fraction_header(rows)
    lines = [f"| group | fold-10 ECGs | {' | '.join(FRACTION_NAMES.get(f, f'{f:g}') for f in header)} |",
             "|---|--:|" + "---|" * len(header)]
    for group, part in rows.groupby("subgroup", sort=False):
        cells = {r.fraction: _interval(r.auroc, r.ci95) for r in part.itertuples()}
        lines.append(f"| {group} | {part.test_ecgs.iloc[0]:,} | "
                     + " | ".join(cells.get(f, "—") for f in header) + " |")
    return "\n".join(lines) + "\n\n" + _source(path, results) + "\n"


def paired_table(path):
    """Fold-10 differences between representations, each with its paired patient interval."""
    results = read_results(path)
    if not results.get("paired"):
        return f"*No paired difference in `{path.parent.name}/{path.name}`: not measured.*\n"
    lines = ["| difference | label set | fraction | macro AUROC difference [95 %] | "
             "resamples not above 0 |", "|---|---|---|---|--:|"]
    for p in results.get("paired", []):
        lines.append(f"| {p['representation']} minus {p['baseline']} | {p['label_set']} | "
                     f"{FRACTION_NAMES.get(p['fraction'], p['fraction'])} | "
                     f"{p['difference']:+.4f} [{p['ci95'][0]:+.4f}, {p['ci95'][1]:+.4f}] | "
                     f"{p['p_not_better']:.3f} |")
    return "\n".join(lines) + "\n\n" + _source(path, results) + "\n"


def retrieval_table(path):
    """Same-patient top-1 retrieval on fold 10, with the query-patient interval."""
    results = read_results(path)
    lines = ["| representation | top-1 [95 %] | chance | queries (patients) | gallery |",
             "|---|---|---|---|--:|"]
    for r in results.get("retrieval_fold10", []):
        lines.append(f"| {r['representation']} | {_interval(r['top1'], r['ci95'])} | "
                     f"{r['chance_top1']:.4f} | {r['n_queries']:,} ({r['n_query_patients']:,}) | "
                     f"{r['gallery']:,} |")
    return "\n".join(lines) + "\n\n" + _source(path, results) + "\n"


def fold9_table(path, label_set):
    """Fold-9 macro AUROC of candidates and their paired difference from the bar."""
    results = read_results(path)
    rows = pd.DataFrame(results["fold9"])
    rows = rows[rows.label_set == label_set]
    fractions = sorted(rows.fraction.unique())
    lines = ["| fold 9 (choosing) | " + " | ".join(FRACTION_NAMES.get(f, f"{f:g}")
                                                  for f in fractions) + " |",
             "|---|" + "---|" * len(fractions)]
    for name, part in rows.groupby("representation", sort=False):
        cells = [f"{r.val_auroc:.4f}" if pd.isna(r.difference) else
                 f"{r.val_auroc:.4f} ({r.difference:+.4f} [{r.diff_low:+.4f}, {r.diff_high:+.4f}])"
                 for r in part.sort_values("fraction").itertuples()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _source(path, results) + "\n"


def decisions_table(path):
    """A release's decision log: each choice, its evidence, and what it saw of fold 10."""
    log = json.loads(Path(path).read_text())
    lines = ["| choice | evidence | saw fold 10 |", "|---|---|---|"]
    for d in log["decisions"]:
        lines.append(f"| {d['choice']} | {d['evidence']} | {d['fold10']} |")
    return "\n".join(lines) + "\n"


def headline_table(path, *more):
    """The README's summary: per representation, each label set at 1 % and 100 %, retrieval.

    `more`: other results files (e.g. another label set's) whose rows join.
    """
    results = read_results(path)
    extra = [r for file in more if (path.parent.parent / file).exists()
             for r in read_results(path.parent.parent / file)["linear"]]
    rows = pd.DataFrame(results["linear"] + extra)
    rows = rows[(rows.subgroup == "all") & rows.fraction.isin([0.01, 1.0])]
    retrieval = {r["representation"]: r for r in results.get("retrieval_fold10", [])}
    label_sets = list(dict.fromkeys(rows.label_set))
    lines = ["| representation | " + " | ".join(f"{s}, 1 % / 100 %" for s in label_sets)
             + " | same-patient retrieval top-1 |", "|---|" + "---|" * (len(label_sets) + 1)]
    for name, part in rows.groupby("representation", sort=False):
        cells = []
        for label_set in label_sets:
            values = part[part.label_set == label_set].sort_values("fraction").auroc
            cells.append(" / ".join(f"{v:.3f}" for v in values) or "—")
        found = retrieval.get(name)
        cells.append(_interval(found["top1"], found["ci95"]) if found else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nFold 10 of PTB-XL, macro AUROC of a linear model on the frozen " \
        "encoder. " + _source(path, results) + "\n"


def probes_table(path, counts):
    """Label-count probes (`pclr experiment`'s probe_results.csv), mean [95 %] per count.

    `counts`: comma-separated label counts; "all" is each target's largest.
    """
    rows = pd.read_csv(path)
    rows = rows[rows.metric.isin(["auroc", "r2"])]
    columns = counts.split(",")
    lines = ["| target (metric) | representation | " + " | ".join(
        "all" if c == "all" else f"{int(c):,} labels" for c in columns) + " |",
        "|---|---|" + "---|" * len(columns)]
    for (target, metric), part in rows.groupby(["target", "metric"], sort=False):
        largest = part.n_labels.max()
        for i, (name, group) in enumerate(part.groupby("representation", sort=False)):
            cells = {r.n_labels: f"{r.mean:.3f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                     for r in group.itertuples()}
            label = f"{target} ({'AUROC' if metric == 'auroc' else 'R²'})" if i == 0 else ""
            lines.append(f"| {label} | {name} | " + " | ".join(
                cells.get(largest if c == "all" else int(c), "—") for c in columns) + " |")
    return "\n".join(lines) + f"\n\nFrom `{path.name}` (written by `pclr experiment`).\n"


def sample_retrieval_table(path):
    """Same-patient retrieval of `pclr experiment`'s retrieval.csv (the sample's held-out folds)."""
    rows = pd.read_csv(path)
    lines = ["| representation | top-1 | top-5 | queries (patients) | ECGs searched |",
             "|---|---|---|---|--:|"]
    for r in rows.itertuples():
        lines.append(f"| {r.representation} | {r.top1:.3f} | {r.top5:.3f} | "
                     f"{r.n_queries:,} ({r.n_patients:,}) | {r.n_ecgs:,} |")
    return "\n".join(lines) + (f"\n\nChance top-1 {rows.chance_top1.iloc[0]:.4f}. "
                               f"From `{path.name}` (written by `pclr experiment`).\n")


def lead_set_rows(results, label_set):
    """The linear rows of one label set with `model` and `leads` read from their names,
    lead sets in `LEAD_SETS` order (from 12 leads down).

    Rows of a results file are named "MODEL" (all 12 leads) and
    "MODEL [LEADS]" (only those leads given, the others zero). `results`: one
    results file's content, or a list of them (a lead set measured later).
    """
    read = results if isinstance(results, list) else [results]
    rows = pd.DataFrame([row for r in read for row in r["linear"]])
    rows = rows[(rows.label_set == label_set) & (rows.subgroup == "all")]
    split = rows.representation.str.extract(r"^(?P<model>.*?)(?: \[(?P<leads>[^\]]+)\])?$")
    rows = rows.assign(model=split.model, leads=split.leads.fillna("12"),
                       ci_low=rows.ci95.str[0], ci_high=rows.ci95.str[1])
    order = {name: i for i, name in enumerate(LEAD_SETS)}
    return rows.sort_values("leads", key=lambda c: c.map(lambda x: order.get(x, len(order))),
                            kind="stable")


def leads_table(path, *args):
    """Fold-10 macro AUROC per lead set (rows) for each model (columns): the degradation curve.

    `args`: the label set, then the models; `with=FILE` names another results
    file beside `path` whose rows join (lead sets measured in a later run).
    """
    extra = [Path(path).parent / a[len("with="):] for a in args if a.startswith("with=")]
    label_set, *names = [a for a in args if not a.startswith("with=")]
    files = [Path(path)] + [f for f in extra if f.exists()]
    read = [read_results(f) for f in files]
    rows = lead_set_rows(read, label_set)
    lead_sets = list(dict.fromkeys(rows.leads))
    lines = ["| leads given | " + " | ".join(f"{n}: 1 % / 10 % / 100 % [95 % at 100 %]"
                                             for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for leads in lead_sets:
        cells = []
        for name in names:
            part = rows[(rows.model == name) & (rows.leads == leads)].sort_values("fraction")
            if part.empty:
                cells.append("not measured")
                continue
            last = part.iloc[-1]
            cells.append(" / ".join(f"{v:.3f}" for v in part.auroc)
                         + f" [{last.ci95[0]:.3f}, {last.ci95[1]:.3f}]")
        lines.append(f"| {leads} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + " ".join(_source(f, r) for f, r in zip(files, read)) + "\n"


def targets_table(path, *results_files):
    """Targets set before a measurement (a JSON list), each read from the results: met, met
    by the estimate alone, or missed by how much.

    A target is {"what", "representation", "at_least"} plus either
    "label_set" and "fraction" (fold-10 macro AUROC), or "retrieval": true
    (fold-10 top-1); "relative_to" makes it a difference from another row
    (its interval: the paired one, where the run paired them); "at_most"
    bounds it from above too (e.g. within 0.005 either way). "met" needs the
    whole 95 % interval inside the bounds; an estimate inside with an
    interval reaching out is said so. `results_files` (beside `path`) are
    read together, e.g. one per label set.
    """
    targets = json.loads(Path(path).read_text())
    found = [Path(path).parent / f for f in results_files if (Path(path).parent / f).exists()]
    if not found:
        return f"*No result file ({', '.join(results_files)}): the targets below were not read.*\n"
    read = [read_results(f) for f in found]
    results = {key: [r for x in read for r in x.get(key, [])]
               for key in ("linear", "paired", "retrieval_fold10")}
    lines = ["| target | measured [95 %] | verdict |", "|---|---|---|"]
    for target in targets:
        value, ci95 = _target_value(results, target)
        if value is None:
            lines.append(f"| {target['what']} | not measured | — |")
            continue
        low, high = target["at_least"], target.get("at_most", float("inf"))
        gap = min(value - low, high - value)
        if gap < 0:
            verdict = f"missed by {-gap:.3f}"
        elif ci95 is None:
            verdict = "met by the estimate (no interval)"
        elif ci95[0] >= low and ci95[1] <= high:
            verdict = "met"
        else:
            verdict = "met by the estimate; its interval reaches beyond the bound"
        shown = f"{value:.3f}" + ("" if ci95 is None else f" [{ci95[0]:.3f}, {ci95[1]:.3f}]")
        lines.append(f"| {target['what']} | {shown} | {verdict} |")
    return "\n".join(lines) + "\n\n" + " ".join(_source(f, x) for f, x in zip(found, read)) + "\n"


def _target_value(results, target):
    """(value, its 95 % interval or None) of one target; (None, None) if not measured."""
    def row_of(name):
        if target.get("retrieval"):
            found = [(r["top1"], r["ci95"]) for r in results["retrieval_fold10"]
                     if r["representation"] == name]
        else:
            found = [(r["auroc"], r["ci95"]) for r in results["linear"]
                     if r["representation"] == name and r["subgroup"] == "all"
                     and r["label_set"] == target["label_set"]
                     and r["fraction"] == target["fraction"]]
        return found[0] if found else (None, None)
    value, ci95 = row_of(target["representation"])
    if value is None or "relative_to" not in target:
        return value, ci95
    base, _ = row_of(target["relative_to"])
    if base is None:
        return None, None
    paired = [r["ci95"] for r in results["paired"]
              if r["representation"] == target["representation"]
              and r["baseline"] == target["relative_to"]
              and r.get("label_set") == target.get("label_set")
              and r.get("fraction") == target.get("fraction")]
    return value - base, (paired[0] if paired else None)


def _source(path, results):
    about = results["provenance"]
    commit = (about.get("git_commit") or "unknown")[:12]
    return (f"From `{path.parent.name}/{path.name}` (`{about['command']}`, "
            f"{about['n_ecgs']:,} ECGs, package {about['package_version']}, commit {commit}, "
            f"{about['date']}).")


RENDERERS = {"linear": linear_table, "subgroups": subgroup_table, "paired": paired_table,
             "retrieval": retrieval_table, "fold9": fold9_table,
             "decisions": decisions_table, "headline": headline_table,
             "probes": probes_table, "sample_retrieval": sample_retrieval_table,
             "leads": leads_table, "targets": targets_table}
