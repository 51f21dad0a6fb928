"""How outputs name a file: relative to the data root the user gave, never absolute.

Absolute paths name the hospital's folders (and often the patient); ids,
`source` columns and error messages name files as the data root sees them.
"""

import os
from pathlib import Path, PurePosixPath


def relative_ecg_id(path, data_root=None):
    """The id outputs give an ECG: its file relative to the data root, never absolute.

    Args:
        path: str or Path. The record's `source`: a file, optionally with the
            part of a many-ECG file after "#" (`codes.h5#exam_id=5`).
        data_root: str, Path or None. The folder the user gave. A file given
            directly (or None) gives the file's name alone.

    Returns:
        str: posix path without the file's suffix (as `io.record_id`), plus
        the "#" part, e.g. "site_a/0001" or "codes#exam_id=5".

    Raises:
        ValueError: `path` is not under `data_root`.
    """
    file_part, sep, inner = str(path).partition("#")
    file_path = Path(os.path.abspath(file_part))
    root = None if data_root is None else Path(os.path.abspath(data_root))
    if root is None or not root.is_dir():
        relative = PurePosixPath(file_path.name)
    else:
        try:
            relative = PurePosixPath(*file_path.relative_to(root).parts)
        except ValueError:
            raise ValueError(f"{path} is not under the data root {data_root}") from None
    return str(relative.with_suffix("")) + sep + inner


def without_root(text, data_root):
    """`text` (an error message) with the data root's absolute path taken out.

    "/hospital/ward7/ecg1.xml: bad base64" -> "ward7/ecg1.xml: bad base64"
    for the root /hospital, so errors reports name files as ids do.
    """
    root = Path(os.path.abspath(data_root))
    root = root if root.is_dir() else root.parent
    return str(text).replace(f"{root}{os.sep}", "")


def shown_path(path, data_root=None):
    """`path` as an output may name it: relative to the data root (suffix kept), or
    its file name when it is not under the root; a "#..." part stays."""
    file_part, sep, inner = str(path).partition("#")
    absolute = Path(os.path.abspath(file_part))
    root = None if data_root is None else Path(os.path.abspath(data_root))
    if root is not None and root.is_dir():
        try:
            return str(PurePosixPath(*absolute.relative_to(root).parts)) + sep + inner
        except ValueError:
            pass
    return absolute.name + sep + inner
