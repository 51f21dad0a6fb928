"""Writes every results table of the cards, and each preset's results.json, from results files.

    python benchmarks/cards.py            # rewrite the cards from model_zoo/PCLR/results/
    python benchmarks/cards.py --check    # exit 1, naming each card that differs

The cards are the model card, the README's results summary, the docs'
results page and each preset's card (whose Hugging Face front matter,
model-index included, is written too). Only the parts between
`<!-- results: ... -->` and `<!-- /results -->` are generated
(`pclr_keras.evaluation.cards`); the prose around them carries no figure.
"""

import argparse
import json
import sys
from pathlib import Path

from pclr_keras.evaluation.cards import lead_set_rows, render_card
from pclr_keras.evaluation.plots import plot_lead_sets
from pclr_keras.evaluation.results import read_results
from pclr_keras.evaluation.model_index import front_matter, preset_summary, replace_front_matter
from pclr_keras.weights.presets import get_preset
from pclr_keras.weights.resolve import preset_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "model_zoo" / "PCLR" / "results"
CARDS = ["model_zoo/PCLR/MODEL_CARD.md", "README.md", "docs/results.md", "docs/embed.md"]
PTBXL_DATA = ["ptb-xl"]
TAGS = ["ecg", "electrocardiogram", "contrastive-learning", "pclr", "keras"]

# The fold-10 results files (one per label set) of the current release's judging.
FOLD10 = ["v0.4/ptbxl_linear_fold10.json", "v0.4/ptbxl_linear_fold10_all.json"]
# The lead sets measured after those (limb, I + II; random weights at lead I).
LEADS = "v0.4/ptbxl_linear_fold10_leads.json"
# v0.1 and v0.2 judged again, with patient intervals, beside v0.3 (float32).
EARLIER = "v0.4/ptbxl_linear_fold10_earlier.json"
# Each preset: its row name and the files its results.json is made from (its
# rows in one run only, so that no figure has two sources).
PRESETS = {
    "pclr-ptbxl-v0.1": dict(row="PCLR v0.1", base_model=None, files=[EARLIER]),
    "pclr-ptbxl-v0.2": dict(row="PCLR v0.2", base_model="pclr-ptbxl-v0.1", files=[EARLIER]),
    "pclr-ptbxl-v0.3": dict(row="PCLR v0.3", base_model="pclr-ptbxl-v0.2",
                            files=FOLD10 + [LEADS]),
    "pclr-ptbxl-v0.4": dict(row="PCLR v0.4", base_model="pclr-ptbxl-v0.3",
                            files=FOLD10 + [LEADS]),
}


def preset_files(preset, spec):
    """{path: new text} for one preset: its results.json and its card."""
    folder = preset_path(get_preset(preset))  # the package's, or the repository's archive
    sha = json.loads((folder / "metadata.json").read_text())["weights_sha256"]
    fold10 = [RESULTS / f for f in spec["files"] if (RESULTS / f).exists()]
    summary = preset_summary(preset, sha, fold10, spec["row"])
    meta = {"license": "bsd-3-clause", "library_name": "keras",
            "pipeline_tag": "feature-extraction", "datasets": PTBXL_DATA, "tags": TAGS}
    if spec["base_model"]:
        meta["base_model"] = spec["base_model"]
    card = folder / "README.md"
    text = render_card(replace_front_matter(card.read_text(), front_matter(meta, summary)),
                       RESULTS)
    return {folder / "results.json": json.dumps(summary, indent=2) + "\n", card: text}


def generated():
    """{path: text} of every file this script writes."""
    files = {ROOT / card: render_card((ROOT / card).read_text(), RESULTS) for card in CARDS}
    for preset, spec in PRESETS.items():
        files.update(preset_files(preset, spec))
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a card differs from its results")
    args = parser.parse_args()
    stale = []
    for path, text in generated().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.write_text(text)
    if args.check and stale:
        print("cards differ from their results (run python benchmarks/cards.py): "
              + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    print(("up to date" if not stale else "rewrote " + ", ".join(map(str, stale))))
    if not args.check:
        write_plots()
    return 0


def write_plots():
    """The model card's lead-set plot (a picture: drawn, not compared by --check)."""
    results = RESULTS / FOLD10[0]
    if results.exists():
        files = [f for f in (results, RESULTS / LEADS) if f.exists()]
        rows = lead_set_rows([read_results(f) for f in files], "superdiagnostic")
        plot_lead_sets(rows[rows.fraction == 1.0], results.parent / "lead_sets.png",
                       "superdiagnostic, 100 % of the training labels")


if __name__ == "__main__":
    sys.exit(main())
