"""How a subcommand stops: a usage error (2), or the bulk commands' outcome
(`pclr_keras.outcome`), each with one line naming the command."""


def usage(command, message):
    """Exits 2 with `pclr COMMAND: message`."""
    from pclr_keras.outcome import USAGE, stop

    stop(USAGE, f"pclr {command}: {message}")


def check_inputs(command, paths):
    """Exits 2 naming the first input path that does not exist."""
    from pclr_keras.outcome import missing_inputs

    missing = missing_inputs(paths)
    if missing:
        usage(command, f"{missing[0]}: no such file or folder")


def command_outcome(command, found, produced, rejected, args):
    """The command's exit status by `pclr_keras.outcome`; says why when not 0."""
    from pclr_keras.outcome import error_rate_limit, outcome, stop

    status, line = outcome(found, produced, rejected,
                           error_rate_limit(args.fail_on_errors, args.max_error_rate))
    if status:
        stop(status, f"pclr {command}: {line}")
    return status
