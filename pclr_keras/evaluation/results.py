"""Results as data: every published figure is a JSON file written by the command that measured it.

A card states a number only if a results file holds it, so each file says
what produced it: the command line, the package version and commit, the
weights' digests, a digest of the ECG list, the seeds. Paths in the command
line are shortened to their last component: nothing on a results file
names a machine, a folder or a person.
"""

import datetime
import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from pclr_keras.atomic import replacing, write_json

SCHEMA = 1


def ecg_list_digest(ecg_ids):
    """SHA-256 of the sorted ECG ids, one per line: which ECGs a figure saw."""
    lines = "\n".join(sorted(str(i) for i in ecg_ids))
    return hashlib.sha256(lines.encode()).hexdigest()


def portable_command(argv=None):
    """The command line, with absolute paths reduced to their last component."""
    argv = sys.argv if argv is None else argv
    words = [Path(argv[0]).name] + list(argv[1:])
    return shlex.join(_portable(word) for word in words)


def _portable(word):
    name, sep, value = word.partition("=")
    if sep and os.path.isabs(value):
        return f"{name}={Path(value).name}"
    return Path(word).name if os.path.isabs(word) else word


def git_commit(folder=None):
    """The commit the package was run from (`+changes` when its tree differs), or None."""
    folder = Path(folder or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                                text=True, timeout=20, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                 cwd=folder, capture_output=True, text=True, timeout=20,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if changed else "")


def provenance(*, ecg_ids, seeds, weights=None, settings=None, argv=None):
    """What a results file records about how its figures were made.

    Args:
        ecg_ids: the ids of every ECG the figures saw.
        seeds: dict name -> int.
        weights: dict encoder name -> dict of its digests (e.g. weights_sha256).
        settings: dict of what else shaped the figures (precision, lead sets).
    """
    from pclr_keras import __version__

    return {"command": portable_command(argv), "package_version": __version__,
            "git_commit": git_commit(), "date": datetime.date.today().isoformat(),
            "ecg_list_sha256": ecg_list_digest(ecg_ids), "n_ecgs": len(ecg_ids),
            "seeds": dict(seeds), "weights": dict(weights or {}),
            "settings": dict(settings or {})}


def write_results(path, kind, figures, about):
    """Writes one results file: {"schema", "kind", "provenance", **figures}, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, _plain({"schema": SCHEMA, "kind": kind, "provenance": about, **figures}))
    return path


def _plain(value):
    """JSON-ready: numpy scalars as Python numbers, NaN as null (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def read_results(path):
    """A results file as a dict; ValueError naming the file if it is not one."""
    payload = json.loads(Path(path).read_text())
    if not isinstance(payload, dict) or "kind" not in payload or "provenance" not in payload:
        raise ValueError(f"{path}: not a results file (no 'kind' and 'provenance')")
    return payload


def write_scores(path, ecg_ids, scores):
    """Per-ECG scores beside a results file (float16, compressed), for later paired comparisons.

    Args:
        ecg_ids: (n,) ids of the scored ECGs.
        scores: dict key -> array (n, labels), e.g. "superdiagnostic/0.01".
    """
    arrays = {key: np.asarray(value, np.float16) for key, value in scores.items()}
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, ecg_id=np.asarray(ecg_ids).astype(str), **arrays)
    return Path(path)
