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


def _fixed_part(pattern):
    """The folder of a glob before its first wildcard: the data root of what it matches."""
    head = pattern[:min(pattern.index(c) for c in _GLOB_CHARACTERS & set(pattern))]
    return head.rsplit("/", 1)[0] if "/" in head else "."


def expand_source(source):
    """A file, folder, glob or URL pattern -> (ECG file, its data root) pairs, sorted.

    A local folder is walked as `pclr embed` / `pclr tensorize` walk it; a
    remote "folder" (a URL ending in `/`) is matched recursively. A plain file
    name is kept as given even when absent: reading it reports it. The data
    root is the folder (or a glob's fixed folder) the file was found under,
    or the file itself: ids are relative to it.
    """
    source = str(source)
    if is_local(source):
        local = source[len("file://"):] if source.startswith("file://") else source
        if Path(local).is_dir():
            return [(str(path), local) for path in find_ecg_files([local])]
        if _GLOB_CHARACTERS & set(local):
            matched = [p for p in glob.glob(local, recursive=True) if os.path.isfile(p)]
            return [(str(path), _fixed_part(local)) for path in find_ecg_files(sorted(matched))
                    if is_ecg_file(path)]
        return [(str(Path(local)), str(Path(local)))]
    pattern = source + "**" if source.endswith("/") else source
    if not (_GLOB_CHARACTERS & set(pattern)):
        return [(source, source)]
    found = FileSystems.match([pattern])[0].metadata_list
    return sorted((meta.path, _fixed_part(pattern)) for meta in found
                  if is_ecg_file(meta.path))


@contextlib.contextmanager
def staged(path, root=None):
    """Yields (a local path to read, the data root to name it against).

    Local files are read in place. A remote file is copied to a temporary
    folder at its place relative to `root` (so its id is the one a local
    copy of the archive would give), with its WFDB signal files (same name,
    other suffixes) for a `.hea`; the folder is removed afterwards.
    """
    path = str(path)
    if is_local(path):
        yield path, (str(root) if root else None)
        return
    folder, name = path.rsplit("/", 1)
    prefix = str(root or "").rstrip("/") + "/"
    relative = path[len(prefix):] if root and path.startswith(prefix) else name
    stem = name.rsplit(".", 1)[0]
    wanted = [folder + "/" + stem + ".*"] if name.lower().endswith(".hea") else [path]
    with tempfile.TemporaryDirectory(prefix="pclr-staged-") as tmp:
        local_folder = Path(tmp, *relative.split("/")[:-1])
        local_folder.mkdir(parents=True, exist_ok=True)
        for match in FileSystems.match(wanted)[0].metadata_list:
            target = local_folder / match.path.rsplit("/", 1)[1]
            with FileSystems.open(match.path) as remote, open(target, "wb") as local:
                shutil.copyfileobj(remote, local)
        yield str(local_folder / name), tmp


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
