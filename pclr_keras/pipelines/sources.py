"""Where a pipeline's ECG files are: local paths and globs, or any Beam `FileSystems` URL.

Sources are expanded inside the pipeline (a worker lists them, not the
launching machine). The readers need local files, so a file on object
storage (gs://, s3://, ...) is copied to a temporary folder first (a WFDB
header with its signal files) and the names it reports are mapped back to
its URL.
"""

import contextlib
import glob
import os
import shlex
import shutil
import tempfile
from pathlib import Path

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pclr_keras.io import find_ecg_files, is_ecg_file

_GLOB_CHARACTERS = set("*?[")


def is_local(path):
    """Whether `path` is on this machine's file system (no URL scheme, or file://)."""
    return FileSystems.get_scheme(str(path)) in (None, "file")


def expand_source(source):
    """A file, folder, glob or URL pattern -> the ECG files it names, sorted.

    A local folder is walked as `pclr embed` / `pclr tensorize` walk it; a
    remote "folder" (a URL ending in `/`) is matched recursively. A plain file
    name is kept as given even when absent: reading it reports it.
    """
    source = str(source)
    if is_local(source):
        local = source[len("file://"):] if source.startswith("file://") else source
        if Path(local).is_dir():
            return [str(path) for path in find_ecg_files([local])]
        if _GLOB_CHARACTERS & set(local):
            matched = [p for p in glob.glob(local, recursive=True) if os.path.isfile(p)]
            return [str(path) for path in find_ecg_files(sorted(matched)) if is_ecg_file(path)]
        return [str(Path(local))]
    pattern = source + "**" if source.endswith("/") else source
    if not (_GLOB_CHARACTERS & set(pattern)):
        return [source]
    found = FileSystems.match([pattern])[0].metadata_list
    return sorted(meta.path for meta in found if is_ecg_file(meta.path))


@contextlib.contextmanager
def staged(path):
    """Yields (a local path to read, a function mapping local names back to `path`'s).

    Local files are read in place. A remote file is copied to a temporary
    folder, with its WFDB signal files (same name, other suffixes) for a
    `.hea`; the folder is removed afterwards.
    """
    path = str(path)
    if is_local(path):
        yield path, lambda text: text
        return
    folder, name = path.rsplit("/", 1)
    stem = name.rsplit(".", 1)[0]
    wanted = [folder + "/" + stem + ".*"] if name.lower().endswith(".hea") else [path]
    with tempfile.TemporaryDirectory(prefix="pclr-staged-") as tmp:
        for match in FileSystems.match(wanted)[0].metadata_list:
            target = os.path.join(tmp, match.path.rsplit("/", 1)[1])
            with FileSystems.open(match.path) as remote, open(target, "wb") as local:
                shutil.copyfileobj(remote, local)
        yield os.path.join(tmp, name), lambda text: str(text).replace(tmp, folder)


def restore_error(error, restore):
    """An errors-report row with local names mapped back by `restore`."""
    return tuple(restore(value) for value in error)


def pipeline_options(beam_options="", workers=None):
    """Beam `PipelineOptions` from a flag string, defaulting to the local multi-process runner.

    Without `--runner`, the DirectRunner runs in multi-processing mode with
    `workers` processes (default: all local cores); flags given win.
    """
    flags = shlex.split(beam_options or "")
    given = {flag.split("=", 1)[0] for flag in flags if flag.startswith("--")}
    runner = PipelineOptions(flags).get_all_options()["runner"] or "DirectRunner"
    if runner in ("DirectRunner", "direct"):
        defaults = {"--runner": "DirectRunner",
                    "--direct_running_mode": "multi_processing",
                    "--direct_num_workers": str(workers or os.cpu_count() or 1)}
        flags += [f"{flag}={value}" for flag, value in defaults.items() if flag not in given]
    return PipelineOptions(flags)
