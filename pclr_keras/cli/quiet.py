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
import threading


# What TensorFlow's C++ libraries print while they load, before its log level applies.
_START_UP_LINE = re.compile(rb"WARNING: All log messages before absl::InitializeLog\(\)"
                            rb"|[IW]\d{4} \d\d:\d\d:[\d.]+ +\d+ \S+:\d+\] ")


# What Beam's worker processes print as they start, besides TensorFlow's lines: INFO, and
# warnings about optional parts of Beam this package does not use.
_WORKER_LINE = re.compile(
    rb"INFO:|WARNING:root:(apitools not found|Resource module is not available)"
    rb"|WARNING:__main__:No semi_persistent_directory"
    rb"|WARNING:apache_beam\.options\.pipeline_options:Discarding unparseable args"
    rb"|WARNING:apache_beam\.runners\.portability\.local_job_service:Worker: severity: "
    rb"(INFO|WARN) .*message: \"(No semi_persistent|Discarding unparseable|Resource module)")


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


@contextlib.contextmanager
def quiet_workers(verbose):
    """Within it, what worker processes started here print on stderr passes through a filter
    that drops TensorFlow's start-up lines and Beam's INFO and start-up warnings.

    Beam's workers are processes of their own: they load TensorFlow where the
    import hook of `quiet_start_up` does not reach, but they inherit stderr.
    So stderr (the file descriptor) becomes a pipe, read line by line by a
    thread that passes on all else as it comes (a progress bar's `\\r` updates
    too). `TF_CPP_MIN_LOG_LEVEL`, set before the workers start, quiets what
    TensorFlow logs once loaded. With `verbose`, nothing changes.
    """
    if verbose:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    relay = threading.Thread(target=_relay, args=(read_end, saved), daemon=True)
    relay.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe closes once the last worker holding it has gone
        relay.join(timeout=10)
        os.close(saved)


def _relay(read_end, out):
    """Copies `read_end` to the file descriptor `out` but for start-up lines, until EOF."""
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        for chunk in iter(lambda: pipe.read(65536), b""):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = [line + b"\n" for line in lines
                    if not (_START_UP_LINE.match(line) or _WORKER_LINE.match(line))]
            if b"\r" in pending:  # a progress bar redrawn in place: shown as it comes
                shown, _, pending = pending.rpartition(b"\r")
                kept.append(shown + b"\r")
            if kept:
                os.write(out, b"".join(kept))
    if pending:
        os.write(out, pending)
