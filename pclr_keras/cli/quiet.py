"""TensorFlow's and Beam's start-up logging kept off stderr unless `--verbose`.

A user reads stderr for what went wrong; pages of library start-up lines
(a `cuInit` ERROR on every machine without a GPU, Beam's INFO) bury it.
"""

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile


# What TensorFlow's C++ libraries print while they load, before its log level applies.
_START_UP_LINE = re.compile(rb"WARNING: All log messages before absl::InitializeLog\(\)"
                            rb"|[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\] ")


def quiet_start_up(verbose):
    """Keeps TensorFlow's and Beam's INFO noise off stderr unless `verbose`.

    TensorFlow's own level (`TF_CPP_MIN_LOG_LEVEL`, set before it is
    imported) covers what it logs once loaded; its libraries' lines from
    while they load ignore it, so the import of `tensorflow` runs with stderr
    captured and only those lines left out. Python warnings, errors and our
    messages pass.
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("apache_beam", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if "tensorflow" not in sys.modules and not any(
            isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as usual and loads it with its start-up lines dropped."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the package is imported only once
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            with _start_up_lines_dropped():
                load(module)

        spec.loader.exec_module = exec_module
        return spec


@contextlib.contextmanager
def _start_up_lines_dropped():
    """stderr (the file descriptor, which C++ writes to) captured, then replayed
    without `_START_UP_LINE`s."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured:
                if not _START_UP_LINE.match(line):
                    sys.stderr.buffer.write(line)
            sys.stderr.flush()
