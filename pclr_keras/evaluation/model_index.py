"""A preset's `results.json` and its Hugging Face card metadata, both made from results files.

The wheel carries each preset's headline figures as data (`results.json`)
so a user can check them without the repository; the card's YAML front
matter (`license`, `datasets`, `base_model`, `tags`, `model-index`) is
written from the same summary, so the two cannot disagree.
"""

import json

import pandas as pd

from pclr_keras.evaluation.results import read_results


def preset_summary(preset, weights_sha256, fold10_paths, representation):
    """The summary `results.json` holds for one preset.

    Args:
        preset: str, the preset's name.
        weights_sha256: str, its `model.weights.h5` digest.
        fold10_paths: `ptbxl_linear_fold10` results files (e.g. one per label
            set); empty when the preset was never judged on fold 10 with one.
        representation: the preset's row name in those files.
    """
    summary = {"preset": preset, "weights_sha256": weights_sha256, "resample": "patient"}
    found = [(path, read_results(path)) for path in fold10_paths]
    rows = pd.DataFrame([r for _, results in found for r in results["linear"]])
    if not found or representation not in set(rows.get("representation", [])):
        return dict(summary, ptbxl_linear_fold10=None, lead_sets_fold10=None,
                    retrieval_fold10=None)
    rows = rows[rows.subgroup == "all"]
    linear = _by_label_set(rows[rows.representation == representation])
    # Rows "REPRESENTATION [LEADS]": the preset given only those leads, the others zero.
    reduced = rows[rows.representation.str.startswith(f"{representation} [")]
    lead_sets = {name[len(representation) + 2:-1]: _by_label_set(part)
                 for name, part in reduced.groupby("representation", sort=False)} or None
    retrieval = next((dict(r) for _, results in found for r in results.get("retrieval_fold10", [])
                      if r["representation"] == representation), None)
    if retrieval:
        retrieval = {k: retrieval[k] for k in ("top1", "ci95", "n_queries", "n_query_patients",
                                               "gallery")}
    return dict(summary, ptbxl_linear_fold10=linear, lead_sets_fold10=lead_sets,
                retrieval_fold10=retrieval,
                sources=[{"file": f"{path.parent.name}/{path.name}",
                          "command": results["provenance"]["command"],
                          "git_commit": results["provenance"]["git_commit"]}
                         for path, results in found])


def _by_label_set(rows):
    """{label_set: {fraction: {"auroc", "ci95"}}} of one representation's rows."""
    return {label_set: {f"{r.fraction:g}": {"auroc": r.auroc, "ci95": r.ci95}
                        for r in part.itertuples()}
            for label_set, part in rows.groupby("label_set", sort=False)}


def front_matter(meta, summary):
    """The card's YAML front matter: `meta` (license, tags, ...) and a model-index from `summary`.

    Written as YAML whose values are JSON (a subset of YAML), so no YAML
    library is needed to write it and any reads it.
    """
    lines = ["---"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in meta.items()]
    metrics = _metrics(summary)
    if metrics:
        lines += ["model-index:", f"- name: {json.dumps(summary['preset'])}", "  results:"]
        for config, entries in metrics.items():
            lines += ["  - task: {\"type\": \"feature-extraction\", "
                      "\"name\": \"Linear evaluation of the frozen encoder\"}",
                      f"    dataset: {json.dumps(dict(type='ptb-xl', name='PTB-XL fold 10', config=config))}",
                      "    metrics:"]
            lines += [f"    - {json.dumps(entry)}" for entry in entries]
    return "\n".join(lines + ["---"]) + "\n"


def _metrics(summary):
    by_config = {}
    for label_set, by_fraction in (summary.get("ptbxl_linear_fold10") or {}).items():
        by_config[label_set] = [
            {"type": "roc_auc", "name": f"macro AUROC, {float(f):.0%} of folds 1-8",
             "value": round(v["auroc"], 4)} for f, v in by_fraction.items()]
    retrieval = summary.get("retrieval_fold10")
    if retrieval:
        by_config["same-patient retrieval"] = [
            {"type": "accuracy", "name": "top-1 same-patient retrieval",
             "value": round(retrieval["top1"], 4)}]
    return by_config


def replace_front_matter(text, matter):
    """`text` with its leading `---` block replaced by (or prefixed with) `matter`."""
    if text.startswith("---\n"):
        end = text.index("\n---\n", 4) + len("\n---\n")
        text = text[end:].lstrip("\n")
    return matter + "\n" + text
