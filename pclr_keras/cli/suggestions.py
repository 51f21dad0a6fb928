"""A mistyped option or subcommand answered with the closest real one.

argparse (before Python 3.14) answers `pclr embed --modle m.h5` with "the
following arguments are required: --model", which hides the typo; here the
first option nobody defined is named instead, with the closest known
spelling (`difflib`), so the line says what to fix.
"""

import difflib
import re

_INVALID_CHOICE = re.compile(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)")
_NUMBER = re.compile(r"-\d+(\.\d*)?([eE][-+]?\d+)?|-\.\d+")


def unknown_option(tokens, known):
    """The first option in `tokens` that is none of `known` nor a prefix of just one.

    Args:
        tokens: list of str. The command line after the program (or subcommand) name.
        known: iterable of str. The option strings the parser defines (`--model`, `-h`).

    Returns:
        (the option as typed, the closest known option or None), or None when every
        option is known. Negative numbers and everything after `--` are values.
    """
    known = sorted(known)
    for token in tokens:
        if token == "--":
            return None
        if not token.startswith("-") or token == "-" or _NUMBER.fullmatch(token):
            continue
        name = token.split("=", 1)[0]
        prefixed = [option for option in known if option.startswith(name)]
        if name in known or (name.startswith("--") and len(prefixed) == 1):
            continue
        if len(prefixed) > 1:  # ambiguous: argparse names the candidates
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        return name, close[0] if close else None
    return None


def closest(word, choices):
    """The choice closest to `word` (a subcommand typed wrong), or None."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return close[0] if close else None


def option_hint(tokens, known):
    """"unrecognized option --modle; did you mean --model?" for the first unknown option in
    `tokens`, or None when there is none."""
    found = unknown_option(tokens, known)
    if found is None:
        return None
    typed, suggestion = found
    return f"unrecognized option {typed}" + (f"; did you mean {suggestion}?" if suggestion
                                             else "")


def choice_hint(word, choices, what="command"):
    """"unknown command 'embd'; did you mean embed?" (choices listed when none is close)."""
    suggestion = closest(word, choices)
    if suggestion:
        return f"unknown {what} {word!r}; did you mean {suggestion}?"
    return f"unknown {what} {word!r} (choose from {', '.join(sorted(choices))})"


def invalid_choice_hint(message):
    """argparse's "argument --runner: invalid choice: 'bem' (choose from 'local', 'beam')"
    as "argument --runner: unknown choice 'bem'; did you mean beam?"; other messages as
    they are."""
    found = _INVALID_CHOICE.fullmatch(message)
    if found is None:
        return message
    argument, word, listed = found.groups()
    choices = [choice.strip().strip("'") for choice in listed.split(",")]
    return f"argument {argument}: {choice_hint(word, choices, what='choice')}"
