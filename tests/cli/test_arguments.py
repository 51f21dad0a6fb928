"""Shared flags read back one way: identifiers, precision and the runner a command uses."""

import pytest

from pclr_keras.cli import build_parser
from pclr_keras.cli.arguments import chosen_precision, identifier_options

EMBED = ["embed", "--model", "m.keras", "--data", "d", "--out", "e.parquet"]


@pytest.mark.parametrize("flags, expected", [
    ([], {"identifiers": "remove", "key_file": None}),
    (["--keep-identifiers"], {"identifiers": "keep", "key_file": None}),
    (["--pseudonymize", "key.txt"], {"identifiers": "pseudonymize", "key_file": "key.txt"})])
def test_identifier_flags_become_the_api_options(flags, expected):
    for argv in (EMBED, ["tensorize", "d", "--out", "t"]):
        assert identifier_options(build_parser().parse_args(argv + flags)) == expected


def test_identifier_flags_exclude_each_other():
    with pytest.raises(SystemExit):
        build_parser().parse_args(EMBED + ["--keep-identifiers", "--pseudonymize", "k"])


def test_float32_is_chosen_silently_and_others_are_said(capsys):
    assert chosen_precision(build_parser().parse_args(EMBED)) == "float32"
    assert capsys.readouterr().err == ""
    assert chosen_precision(build_parser().parse_args(EMBED + ["--precision", "float16"])) \
        == "float16"
    assert capsys.readouterr().err == "precision: float16\n"


def test_the_allow_test_fold_flag_is_on_both_training_commands():
    parse = build_parser().parse_args
    for argv in (["pretrain", "--data", "d", "--out", "o"],
                 ["finetune", "--model", "m", "--data", "d", "--target", "t", "--out", "o"]):
        assert parse(argv).allow_test_fold is False
        assert parse(argv + ["--allow-test-fold"]).allow_test_fold is True
