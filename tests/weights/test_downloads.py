"""`fetch_file`: one file through a `.part`, resumed with Range, renamed into place once it matches.

Every download comes from a server on 127.0.0.1 (`local_server.py`) or from a
port nothing listens on; no test reaches the internet.
"""

import hashlib
import socket

import pytest

from local_server import serve  # noqa: F401 (a fixture)
from pclr_keras.weights.downloads import (
    CHUNK_BYTES, USER_AGENT, DownloadError, fetch_file, file_digest)

BODY = bytes(range(256)) * 40  # 10,240 bytes


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def site(tmp_path, serve):
    """(base URL, server state, destination folder) for a served `file.bin` of BODY."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "file.bin").write_bytes(BODY)
    base, state = serve(folder)
    return base, state, tmp_path / "out"


def fetch(base, dest, digest=sha256(BODY), retries=1):
    return fetch_file(f"{base}/file.bin", dest, ("sha256", digest), retries=retries,
                      timeout=10, pause=0)


def test_a_file_is_downloaded_checked_and_renamed_into_place(site):
    base, state, out = site
    dest = out / "nested" / "file.bin"
    assert fetch(base, dest) == {"status": "downloaded", "bytes": len(BODY), "resumed": False}
    assert dest.read_bytes() == BODY and sorted(p.name for p in dest.parent.iterdir()) == [
        "file.bin"]
    ((headers, status),) = state.requests_for("file.bin")
    assert headers.get("User-Agent") == USER_AGENT and "Range" not in headers and status == 200


def test_a_file_already_there_is_kept_and_a_damaged_one_fetched_again(site):
    base, state, out = site
    dest = out / "file.bin"
    fetch(base, dest)
    assert fetch(base, dest) == {"status": "present", "bytes": 0, "resumed": False}
    assert len(state.requests) == 1
    dest.write_bytes(BODY[:-1] + b"x")
    assert fetch(base, dest)["status"] == "downloaded" and dest.read_bytes() == BODY
    assert len(state.requests) == 2


def test_a_partial_file_is_continued_with_a_range_request(site):
    base, state, out = site
    out.mkdir()
    (out / "file.bin.part").write_bytes(BODY[:4000])
    assert fetch(base, out / "file.bin") == {"status": "downloaded",
                                             "bytes": len(BODY) - 4000, "resumed": True}
    ((headers, status),) = state.requests_for("file.bin")
    assert headers.get("Range") == "bytes=4000-" and status == 206
    assert (out / "file.bin").read_bytes() == BODY and not (out / "file.bin.part").exists()


def test_a_server_ignoring_range_sends_the_whole_file_which_replaces_the_part(site):
    base, state, out = site
    state.ignore_range = True
    out.mkdir()
    (out / "file.bin.part").write_bytes(BODY[:4000])
    assert fetch(base, out / "file.bin") == {"status": "downloaded", "bytes": len(BODY),
                                             "resumed": False}
    assert (out / "file.bin").read_bytes() == BODY


def test_a_whole_part_answered_416_is_checked_and_kept(site):
    base, state, out = site
    out.mkdir()
    (out / "file.bin.part").write_bytes(BODY)
    assert fetch(base, out / "file.bin") == {"status": "downloaded", "bytes": 0,
                                             "resumed": True}
    assert [status for _, status in state.requests_for("file.bin")] == [416]
    assert (out / "file.bin").read_bytes() == BODY


def test_a_connection_closed_midway_is_retried_from_where_it_stopped(site):
    base, state, out = site
    state.cut_short.add("file.bin")
    result = fetch(base, out / "file.bin")
    assert result["resumed"] and (out / "file.bin").read_bytes() == BODY
    first, second = state.requests_for("file.bin")
    assert "Range" not in first[0] and second[0]["Range"] == f"bytes={len(BODY) // 2}-"


def test_other_bytes_are_retried_then_reported_and_never_kept(site):
    base, state, out = site
    state.corrupt.add("file.bin")
    got = sha256(bytes(b ^ 0xFF for b in BODY))
    with pytest.raises(DownloadError, match=f"sha256 mismatch: expected {sha256(BODY)}, "
                                            f"got {got} \\(after 3 attempts\\)"):
        fetch(base, out / "file.bin", retries=2)
    assert len(state.requests) == 3 and list(out.iterdir()) == []


def test_http_4xx_is_reported_at_once_without_a_retry(site):
    base, state, out = site
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_file(f"{base}/absent.bin", out / "absent.bin", ("sha256", sha256(BODY)),
                   retries=3, timeout=10, pause=0)
    assert len(state.requests) == 1 and not (out / "absent.bin").exists()


def test_no_server_is_a_network_failure_after_the_retries(tmp_path):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match=r"network failure: .*\(after 2 attempts\)"):
        fetch_file(f"http://127.0.0.1:{port}/file.bin", tmp_path / "file.bin",
                   ("sha256", sha256(BODY)), retries=1, timeout=5, pause=0)
    assert not (tmp_path / "file.bin").exists()


def test_file_digest_reads_files_larger_than_one_block(tmp_path):
    data = BODY * (CHUNK_BYTES // len(BODY) * 2 + 3)
    assert len(data) > 2 * CHUNK_BYTES
    (tmp_path / "big.bin").write_bytes(data)
    assert file_digest(tmp_path / "big.bin", "sha256") == sha256(data)
    assert file_digest(tmp_path / "big.bin", "md5") == hashlib.md5(data).hexdigest()
