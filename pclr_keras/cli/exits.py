"""How a subcommand stops: one line naming the command, and the exit status of README's
table (Exit codes): 2 for a usage error or a path that is not there, 1 for a failure, and
the bulk commands' outcome (`pclr_keras.outcome`)."""

import argparse

from pclr_keras.outcome import FAILED, USAGE, stop

# Errors that say the command line is wrong (fix it and run again): exit 2.
_USAGE_ERRORS = (argparse.ArgumentError, FileNotFoundError, NotADirectoryError,
                 IsADirectoryError, PermissionError)


def usage(command, message):
    """Exits 2 with `pclr COMMAND: error: message`."""
    stop(USAGE, f"pclr {command}: error: {message}")


def failed(command, message):
    """Exits 1 with `pclr COMMAND: error: message`."""
    stop(FAILED, f"pclr {command}: error: {message}")


def check_inputs(command, paths):
    """Exits 2 naming the first input path that does not exist."""
    from pclr_keras.outcome import missing_inputs

    missing = missing_inputs(paths)
    if missing:
        usage(command, f"{missing[0]}: no such file or folder")


def command_outcome(command, found, produced, rejected, args):
    """The command's exit status by `pclr_keras.outcome`; says why when not 0."""
    from pclr_keras.outcome import error_rate_limit, outcome

    status, line = outcome(found, produced, rejected,
                           error_rate_limit(args.fail_on_errors, args.max_error_rate))
    if status:
        failed(command, line)
    return status


def one_line(message):
    """The first line of `message`, without a last sentence that introduces what follows
    it (a table, a list of files), e.g. "...downloaded (offline). Download these:"."""
    lines = str(message).strip().splitlines() or [""]
    first = lines[0].strip()
    if len(lines) > 1 and first.endswith(":"):
        end = max(first.rfind(". "), first.rfind("? "))
        first = first[:end + 1] if end > 0 else first[:-1]
    return first


def report_failure(command, error, verbose=False):
    """Stops with the one line and exit status an exception from `pclr COMMAND` stands for.

    The package's own errors say what is wrong in their message; a usage error
    (a bad combination of flags, a path not there or not readable) exits 2, any
    other error 1. An error of no known kind says its type too, and with
    `--verbose` propagates with its traceback.
    """
    from pclr_keras.deidentify import KeyFileError
    from pclr_keras.folds import SelectionOnTestFoldError

    if isinstance(error, (*_USAGE_ERRORS, KeyFileError, SelectionOnTestFoldError)):
        usage(command, one_line(_with_path(error)))
    if verbose and not _is_known(error):
        raise error
    text = one_line(_with_path(error))
    if not _is_known(error):
        text = f"{type(error).__name__}: {text} (--verbose shows where)"
    failed(command, text)


def _with_path(error):
    """An error's message: an OSError's with the file it concerns (`x: permission denied`),
    a KeyError's without the quotes `str` adds."""
    if isinstance(error, OSError) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror.lower()}"
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error) or type(error).__name__


def _is_known(error):
    """Whether `error` is of a kind whose message is written for users: the package's own
    classes, and the OSError, ValueError and ImportError it raises with a sentence."""
    return (isinstance(error, (OSError, ValueError, ImportError))
            or type(error).__module__.startswith("pclr_keras"))
