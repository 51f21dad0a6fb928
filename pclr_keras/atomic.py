"""Files written whole or not at all, so a killed job never leaves half a file.

Each writer writes under a temporary name beside the target and renames it
into place; a reader sees the old file or the new one, never a mix.
"""

import contextlib
import csv
import json
import os
from pathlib import Path

ERROR_COLUMNS = ("source", "problem", "message")


@contextlib.contextmanager
def replacing(path):
    """Yields a temporary path beside `path`; renames it onto `path` on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    yield tmp
    os.replace(tmp, path)


def write_json(path, payload):
    """Writes `payload` as indented JSON (numpy scalars as floats)."""
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, default=float))


def write_errors(errors, path):
    """Writes the errors report: one (source, problem, message) row per rejected input."""
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(ERROR_COLUMNS)
        writer.writerows(errors)
