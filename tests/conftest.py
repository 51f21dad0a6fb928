"""Shared fixtures: the real data beside the checkout, and small model sizes;
and CI's check that no test skips unless it is expected to."""

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Narrow, short encoders for tests that check behaviour, not the architecture.
SMALL_ENCODER = dict(input_length=256, stem_filters=8, unit_filters=(8, 12, 16, 16),
                     unit_lengths=(64, 16, 4, 1))
# Narrow encoders that read the full 4096 x 12 input, for training tests.
NARROW_ENCODER = dict(stem_filters=8, unit_filters=(8, 12, 16, 16))


def require_shared(relative=""):
    """Path under ../shared, or skip (fail where PCLR_REQUIRE_SHARED=1, as in CI)."""
    path = SHARED / relative
    if not path.exists():
        reason = (f"needs the real data in {path}: present in CI, absent in a fresh clone "
                  "(see README, 'Tests')")
        if os.environ.get("PCLR_REQUIRE_SHARED") == "1":
            pytest.fail(reason + "; PCLR_REQUIRE_SHARED=1 makes it mandatory")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def upstream_arch():
    import json

    return json.loads(require_shared("reference/upstream_pclr_arch.json").read_text())["models"]


@pytest.fixture(scope="session")
def upstream_files(tmp_path_factory):
    """ml4h-style Keras 2 files (h5, SavedModel), written once by tf_keras."""
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras (Keras 2) is not installed; it writes the ml4h-style files.")
    out = tmp_path_factory.mktemp("upstream")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("upstream_fixtures.py")), str(out)],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.fixture(scope="session")
def synthetic_tensors(tmp_path_factory):
    """A tensorized synthetic cohort: 48 patients with 2-3 ECGs each (pclr variant)."""
    from pclr_keras.synthetic import write_cohort
    from pclr_keras.tensorize import read_manifest, tensorize

    root = tmp_path_factory.mktemp("cohort")
    inputs, _ = read_manifest(write_cohort(root / "records", patients=48, seed=0))
    tensorize(inputs, root / "tensors", workers=1, progress=False)
    return root / "tensors"


def pytest_configure(config):
    listed = os.environ.get(EXPECTED_SKIPS_VARIABLE)
    if listed:
        config.pluginmanager.register(SkipCheck(Path(listed)), "pclr-expected-skips")


# CI names a list of the skips it expects; any other skip fails the run, so a
# test that stops running (a missing extra, a shallow clone) cannot pass unseen.
EXPECTED_SKIPS_VARIABLE = "PCLR_EXPECTED_SKIPS"


@dataclasses.dataclass(frozen=True)
class ExpectedSkip:
    """One skip CI accepts: a test id pattern (`*` matches anything), a reason
    (a regular expression matching all of it) and why CI cannot run the test."""

    test: str
    reason: str
    why: str

    def matches(self, nodeid, reason):
        test = ".*".join(map(re.escape, self.test.split("*")))
        return re.fullmatch(test, nodeid) is not None and \
            re.fullmatch(self.reason, reason) is not None


def read_expected_skips(path):
    """Entries of `test:`, `reason:` and `why:` lines, a blank line after each;
    indented lines continue the field above; `#` starts a comment line."""
    expected, fields, key = [], {}, None
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate([*lines, ""], 1):
        if line.lstrip().startswith("#"):
            continue
        if not line.strip():
            if fields:
                if sorted(fields) != ["reason", "test", "why"] or not all(fields.values()):
                    raise pytest.UsageError(
                        f"{path}:{number - 1}: an entry needs test:, reason: and why:")
                expected.append(ExpectedSkip(**fields))
            fields, key = {}, None
        elif line[0].isspace() and key:
            fields[key] += " " + line.strip()
        else:
            key, colon, value = line.partition(":")
            key = key.strip()
            if not colon or key not in ("test", "reason", "why") or key in fields:
                raise pytest.UsageError(f"{path}:{number}: expected test:, reason: or why:, "
                                        f"got {line!r}")
            fields[key] = value.strip()
    return expected


class SkipCheck:
    """Fails the session on each skip `path` does not list, naming them."""

    def __init__(self, path):
        self.path = path
        self.expected = read_expected_skips(path)
        self.seen, self.unexpected = [], []

    def _record(self, report):
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        known = [skip for skip in self.expected if skip.matches(report.nodeid, reason)]
        if known:
            self.seen.append((report.nodeid, known[0].why))
        else:
            self.unexpected.append((report.nodeid, reason))

    def pytest_collectreport(self, report):  # a module skipped whole (importorskip)
        self._record(report)

    def pytest_runtest_logreport(self, report):
        self._record(report)

    def pytest_sessionfinish(self, session):
        if self.unexpected and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        write = terminalreporter.write_line
        if self.seen:
            terminalreporter.write_sep("-", f"{len(self.seen)} expected skip(s), {self.path}")
            for nodeid, why in self.seen:
                write(f"expected skip {nodeid}: {why}")
        if self.unexpected:
            terminalreporter.write_sep("=", f"{len(self.unexpected)} unexpected skip(s)",
                                       red=True)
            for nodeid, reason in self.unexpected:
                write(f"UNEXPECTED SKIP {nodeid}: {reason}")
            write(f"The skips CI accepts are listed, each with why, in {self.path}: make "
                  "these tests run, or list one there only if CI cannot run it.")
