"""Downloads that resume and check: one file through a `.part`, renamed into place once it matches.

`fetch_file(url, dest, ("sha256", hex))` appends to an existing `dest.part`
with an HTTP `Range` request (a server that ignores it sends the whole file
again), checks the digest, and only then renames the part onto `dest`; a
part that does not match is deleted, fetched once more, then reported, never
kept. A `dest` already there with the right digest is not fetched again.
Standard library only: public data sets (`pclr_keras.datasets`) and preset
weights (`pclr_keras.weights.resolve`) both download through here.
"""

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request

from pclr_keras import __version__

USER_AGENT = f"pclr-keras/{__version__} (+urllib)"
CHUNK_BYTES = 1 << 20


class DownloadError(Exception):
    """A file that cannot be fetched (HTTP 4xx, unsafe path, digest mismatch): no retry."""


class _Retryable(Exception):
    """A transfer that stopped early; its `.part` is kept and continued."""


def open_url(url, timeout, headers=None):
    """Opens `url` with our User-Agent; HTTP errors raise `urllib.error.HTTPError`."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    return urllib.request.urlopen(request, timeout=timeout)


def file_digest(path, algorithm):
    """Hex digest of a file, read in blocks (files may be larger than memory)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _transfer(url, part, timeout):
    """Appends the rest of `url` to `part` (resuming with Range); returns (bytes, resumed)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = open_url(url, timeout, headers)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return 0, True  # nothing left to send: the part may be whole; the checksum decides
        if 400 <= error.code < 500:
            raise DownloadError(f"HTTP {error.code} {error.reason}") from error
        raise _Retryable(f"HTTP {error.code} {error.reason}") from error
    with response:
        total = None
        if response.status == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                part.unlink(missing_ok=True)
                raise _Retryable("server sent a range that does not continue the partial file")
            total = None if match.group(2) == "*" else int(match.group(2))
            mode, resumed = "ab", True
        else:  # 200: the whole file, whether or not a range was asked for
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode, resumed = "wb", False
        written = 0
        with open(part, mode) as f:
            while True:
                block = response.read(CHUNK_BYTES)
                if not block:
                    break
                f.write(block)
                written += len(block)
    if total is not None and part.stat().st_size < total:
        raise _Retryable(f"connection closed after {part.stat().st_size} of {total} bytes")
    return written, resumed


def fetch_file(url, dest, checksum, *, retries, timeout, pause=0.2):
    """Gets one file to `dest`, checked.

    Args:
        checksum: (algorithm, hex), e.g. ("sha256", "50ca...").
        retries: int. Further attempts after a failed transfer or a mismatch.

    Returns:
        {"status": "present" or "downloaded", "bytes", "resumed"}.

    Raises:
        DownloadError: HTTP 4xx, or still failing after the retries (the reason says why).
    """
    algorithm, expected = checksum
    if dest.is_file():
        if file_digest(dest, algorithm) == expected:
            return {"status": "present", "bytes": 0, "resumed": False}
        dest.unlink()  # stale or damaged: fetched again below
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    result = {"status": "downloaded", "bytes": 0, "resumed": False}
    problem = "no attempt made"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(pause * attempt)
        try:
            written, resumed = _transfer(url, part, timeout)
        except _Retryable as error:
            problem = str(error)
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            problem = f"network failure: {getattr(error, 'reason', error)}"
            continue  # the part is kept and continued
        result["bytes"] += written
        result["resumed"] |= resumed
        if part.is_file() and file_digest(part, algorithm) == expected:
            os.replace(part, dest)
            return result
        got = file_digest(part, algorithm) if part.is_file() else "nothing"
        part.unlink(missing_ok=True)  # never keep a file that does not match
        problem = f"{algorithm} mismatch: expected {expected}, got {got}"
    raise DownloadError(f"{problem} (after {retries + 1} attempts)")
