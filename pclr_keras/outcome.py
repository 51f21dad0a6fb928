"""Whether a bulk `pclr` command succeeded: its exit status, and one line saying why not.

- 0: something was produced; inputs that failed are counted and listed in
  the errors report.
- 1: no input could be read, nothing was produced, or the share of inputs
  rejected is above `--max-error-rate` (`--fail-on-errors`: any).
- 2: a usage error: a bad flag, an input path that does not exist, a key
  file that cannot be used, `--out` not usable.

The summary is written in every case but a usage error, so a pipeline can
see what happened. Nothing here imports TensorFlow.
"""

import sys
from pathlib import Path

OK, FAILED, USAGE = 0, 1, 2
# Rows the user asked to leave out (a manifest's `--drop-if`) are no failure.
NOT_FAILURES = ("excluded",)


class NoInput(ValueError):
    """No ECG at all in the inputs given (an empty folder); raised after the summary is written."""


def stop(status, line):
    """Prints `line` to stderr and exits with `status`."""
    print(line, file=sys.stderr)
    raise SystemExit(status)


def missing_inputs(paths):
    """The paths that do not exist (local ones: URLs such as gs://... and globs are left
    to the runner)."""
    return [str(p) for p in paths if "://" not in str(p) and not set("*?[") & set(str(p))
            and not Path(p).exists()]


def check_file_output(out):
    """A usage error line for a file output that is a folder (or names one), or None."""
    if str(out).endswith(("/", "\\")):
        return (f"--out {out}: ends with '/', but this command writes a file "
                f"(e.g. {str(out).rstrip('/')}.parquet)")
    if Path(out).is_dir():
        return (f"--out {out}: is a folder, but this command writes a file "
                f"(e.g. {Path(out) / 'embeddings.parquet'})")
    return None


def error_rate_limit(fail_on_errors=False, max_error_rate=None):
    """The share of rejected inputs above which a run fails: 0 with --fail-on-errors, else
    --max-error-rate (None: no limit)."""
    return 0.0 if fail_on_errors else max_error_rate


def outcome(found, produced, rejected, max_error_rate=None):
    """(status, line) of a bulk run from its counts.

    Args:
        found: int. ECGs found (produced + rejected).
        produced: int. ECGs written (tensorized, embedded).
        rejected: dict problem -> count (as in summary.json).
        max_error_rate: float or None. Fail when more than this share of the
            ECGs found (those excluded on purpose aside) was rejected.

    Returns:
        (0, "") or (1, the reason in one line).
    """
    failures = sum(n for problem, n in rejected.items() if problem not in NOT_FAILURES)
    considered = found - (sum(rejected.values()) - failures)
    if found == 0:
        return FAILED, "no ECG found in the inputs given (an empty folder?); nothing was produced"
    if produced == 0:
        reasons = ", ".join(f"{n} {problem}" for problem, n in sorted(rejected.items()))
        return FAILED, (f"none of the {found} ECG(s) found could be used ({reasons}); "
                        "nothing was produced; the errors report says why for each")
    if max_error_rate is not None and considered and failures / considered > max_error_rate:
        return FAILED, (f"{failures} of {considered} ECGs rejected ({failures / considered:.1%}), "
                        f"above the limit of {max_error_rate:.1%} (--max-error-rate / "
                        "--fail-on-errors); the output was written")
    return OK, ""
