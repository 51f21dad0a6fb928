"""The shipped cards: generated from their results files, no placeholder, no typed figure."""

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\b(ALL_RESULTS|SUBGROUPS|TODO|TBD|XXX)\b|\{\{ *\w+ *\}\}")
FIGURE = re.compile(r"\b0\.\d{3}\b")


def cards_script():
    spec = importlib.util.spec_from_file_location("cards", ROOT / "benchmarks" / "cards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_card_is_what_its_results_generate():
    stale = [str(path.relative_to(ROOT)) for path, text in cards_script().generated().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"run python benchmarks/cards.py: {stale} differ from their results"


def test_no_card_holds_a_placeholder_or_a_figure_outside_its_generated_parts():
    module = cards_script()
    cards = [path for path in module.generated() if path.suffix == ".md"]  # preset cards too
    assert len(cards) == len(module.CARDS) + len(module.PRESETS)
    for card in cards:
        text = card.read_text()
        assert not PLACEHOLDER.search(text), f"{card.name}: {PLACEHOLDER.search(text)[0]}"
        prose = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.DOTALL)  # generated metadata
        prose = re.sub(r"<!-- results: .*?<!-- /results -->", "", prose, flags=re.DOTALL)
        prose = re.sub(r"```.*?```", "", prose, flags=re.DOTALL)
        for paragraph in prose.split("\n\n"):
            typed = FIGURE.findall(paragraph)
            assert not typed or "published" in paragraph.lower(), (
                f"{card.relative_to(ROOT)}: typed figures {typed} in: {paragraph[:120]!r}")
