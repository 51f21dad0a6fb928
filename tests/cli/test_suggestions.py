"""A mistyped option or choice is named with the closest real one."""

import pytest

from pclr_keras.cli.suggestions import choice_hint, invalid_choice_hint, unknown_option

KNOWN = ["--model", "--data", "--out", "--max-error-rate", "--max-steps", "-h", "--help"]


@pytest.mark.parametrize("tokens, expected", [
    (["--modle", "m.h5"], ("--modle", "--model")),
    (["--data", "d", "--ot=x.parquet"], ("--ot", "--out")),
    (["--frobnicate"], ("--frobnicate", None)),
    (["--mod", "m.h5", "--data", "d"], None),  # a unique prefix, as argparse takes it
    (["--max", "1"], None),  # ambiguous: argparse names the candidates itself
    (["--max-error-rate", "-0.5", "--out", "-1"], None),  # negative numbers are values
    (["--out", "o", "--", "--modle"], None),  # after --, everything is a value
    (["-h"], None),
])
def test_the_first_unknown_option_and_its_closest_spelling(tokens, expected):
    assert unknown_option(tokens, KNOWN) == expected


def test_choices_typed_wrong():
    assert choice_hint("embd", ["embed", "export", "probe"]) == (
        "unknown command 'embd'; did you mean embed?")
    assert choice_hint("zzz", ["b", "a"]) == "unknown command 'zzz' (choose from a, b)"
    assert invalid_choice_hint("argument --runner: invalid choice: 'bem' (choose from "
                               "'local', 'beam')") == (
        "argument --runner: unknown choice 'bem'; did you mean beam?")
    assert invalid_choice_hint("the following arguments are required: --out") == (
        "the following arguments are required: --out")
