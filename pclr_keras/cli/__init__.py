"""The `pclr` command: a parser built from one module per subcommand, then that one's run.

Each subcommand module owns its flags (`add_arguments(subparsers)`) and its
`run(args)`; the stages do the work, and `pclr_keras.pipelines.RUNNERS`
says where `tensorize` and `embed` run.
"""

import argparse

from pclr_keras.cli import (
    datasets, demo, embed, experiment, export, finetune, presets, pretrain, probe, tensorize)
from pclr_keras.cli.arguments import add_verbose_argument
from pclr_keras.cli.quiet import quiet_start_up

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
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)


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
    """Runs `pclr argv`; its exit status (a run may also stop with SystemExit)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_start_up(args.verbose)
    try:
        return args.run(args) or 0
    except argparse.ArgumentError as error:  # flags that parse, but not together
        parser.error(str(error))


__all__ = ["build_parser", "main"]
