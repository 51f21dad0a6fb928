"""Files written whole or not at all: an interrupted write leaves the old file as it was."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pclr_keras.atomic import ERROR_COLUMNS, replacing, write_errors, write_json

INTERRUPTED_WRITE = textwrap.dedent("""
    import os, sys
    from pclr_keras.atomic import replacing
    with replacing(sys.argv[1]) as tmp:
        with open(tmp, "w") as f:
            f.write("half of the new conte")
            f.flush()
        os._exit(9)  # killed between the write and the rename
""")


def test_a_completed_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    with replacing(path) as tmp:
        assert tmp.parent == path.parent and tmp != path
        tmp.write_text("new")
        assert path.read_text() == "old"  # nothing under the final name until the rename
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_write_that_fails_midway_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("old,complete\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with replacing(path) as tmp:
            tmp.write_text("new,par")
            raise RuntimeError("disk full")
    assert path.read_text() == "old,complete\n"


def test_a_killed_write_leaves_the_old_file_and_no_partial_file_under_its_name(tmp_path):
    path = tmp_path / "errors.csv"
    path.write_text("old\n")
    fresh = tmp_path / "fresh.csv"
    for target in (path, fresh):
        done = subprocess.run([sys.executable, "-c", INTERRUPTED_WRITE, str(target)],
                              cwd=Path(__file__).parents[1], env=dict(os.environ))
        assert done.returncode == 9
    assert path.read_text() == "old\n"
    assert not fresh.exists()  # no half-written file under a name a reader trusts
    leftovers = {p.name: p.read_text() for p in tmp_path.iterdir()
                 if p.name not in ("errors.csv",)}
    assert leftovers == {".errors.csv.tmp": "half of the new conte",
                         ".fresh.csv.tmp": "half of the new conte"}


def test_write_json_is_indented_and_writes_numpy_scalars_as_numbers(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"tensorized": 3, "auc": np.float32(0.5), "rejected": {"flat_lead": 1}})
    text = path.read_text()
    assert json.loads(text) == {"tensorized": 3, "auc": 0.5, "rejected": {"flat_lead": 1}}
    assert '\n  "auc": 0.5' in text
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_write_errors_writes_one_row_per_input_and_quotes_what_needs_it(tmp_path):
    path = tmp_path / "errors.csv"
    rows = [("ward7/ecg1", "unreadable", 'ecg1.xml: bad base64, "WaveFormData"'),
            ("ecg2", "too_short", "5.0 s\nof 10 s")]
    write_errors(rows, path)
    with open(path, newline="") as f:
        read = list(csv.reader(f))
    assert read == [list(ERROR_COLUMNS), *map(list, rows)]
    assert b"\r\n" not in path.read_bytes()
    write_errors([], path)
    assert path.read_bytes() == b"source,problem,message\n"
