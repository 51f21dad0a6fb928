"""The `pclr` command: a parser built from one module per subcommand, then that one's run.

Each subcommand module owns its flags (`add_arguments(subparsers)`) and its
`run(args)`; the stages do the work, and `pclr_keras.pipelines.RUNNERS`
says where `tensorize` and `embed` run.
"""

import argparse
import sys

from pclr_keras.cli import (
    datasets, demo, embed, experiment, export, finetune, presets, pretrain, probe, tensorize)
from pclr_keras.cli.arguments import add_verbose_argument
from pclr_keras.cli.exits import USAGE, report_failure
from pclr_keras.cli.preflight import check_before_run
from pclr_keras.cli.quiet import quiet_start_up
from pclr_keras.cli.suggestions import choice_hint, invalid_choice_hint, option_hint

# In the order `pclr --help` lists them.
COMMANDS = (presets, export, tensorize, pretrain, finetune, datasets, embed, probe, experiment,
            demo)


class _HelpWithDefaults(argparse.HelpFormatter):
    """Help that shows each option's default, unless its text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """A parser whose mistakes are one line, naming a mistyped option's closest spelling."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)
        self.subcommands = None
        self.tokens = []

    def add_subparsers(self, **kwargs):
        self.subcommands = super().add_subparsers(**kwargs)
        return self.subcommands

    def parse_known_args(self, args=None, namespace=None):
        self.tokens = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message):
        """`pclr CMD: error: ...` on one line, exit 2; an unknown option or choice named
        with the closest known one instead of what argparse concluded from it."""
        prog, hint = self.hint(self.tokens)
        self.exit(USAGE, f"{prog}: error: {hint or invalid_choice_hint(message)}\n")

    def hint(self, tokens):
        """(the parser's prog, what is mistyped in `tokens` or None), looked for down to
        the subcommand they name."""
        if self.subcommands is None:
            return self.prog, option_hint(tokens, self._option_string_actions)
        words = [k for k, token in enumerate(tokens) if not token.startswith("-")]
        mistyped = option_hint(tokens[:words[0]] if words else tokens,
                               self._option_string_actions)
        if mistyped or not words:
            return self.prog, mistyped
        command = self.subcommands.choices.get(tokens[words[0]])
        if command is None:
            return self.prog, choice_hint(tokens[words[0]], self.subcommands.choices)
        return command.hint(tokens[words[0] + 1:])


def build_parser():
    """The `pclr` parser, every subcommand's flags added by its module."""
    from pclr_keras import __version__

    parser = _Parser(prog="pclr", description="PCLR ECG representations in Keras 3.")
    parser.add_argument("--version", action="version", version=f"pclr-keras {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_verbose_argument(parser)
    for command in COMMANDS:
        command.add_arguments(commands)
    for subcommand in commands.choices.values():  # `pclr embed --verbose` works too
        add_verbose_argument(subcommand, default=argparse.SUPPRESS)
    return parser


def main(argv=None):
    """Runs `pclr argv`; its exit status (a run may also stop with SystemExit).

    Every mistake ends in one line, `pclr CMD: error: ...`, and the exit status of
    README's table (`cli/exits.py`); what is given is checked before any model loads
    (`cli/preflight.py`). `--verbose` shows the traceback of an unexpected error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_start_up(args.verbose)
    try:
        check_before_run(args)
        return args.run(args) or 0
    except Exception as error:  # noqa: BLE001 - each becomes its one line (cli/exits.py)
        return report_failure(args.command, error, args.verbose)


__all__ = ["build_parser", "main"]
