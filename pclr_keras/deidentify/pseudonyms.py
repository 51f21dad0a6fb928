"""Keyed pseudonyms: the same key gives the same pseudonym, no key gives nothing back.

`pseudonym(key, value)` is an HMAC-SHA256, so without the key no one can
go back from a pseudonym or test a guess; the key lives in a file the user
keeps apart from the outputs (`read_key`).
"""

import hashlib
import hmac
from pathlib import Path

MIN_KEY_BYTES = 32
KEY_ADVICE = "create one with `openssl rand -hex 32 > KEYFILE` and keep it apart from the outputs"


class KeyFileError(ValueError):
    """A pseudonymization key file that cannot be used; names the file, never the key."""


def read_key(path):
    """The pseudonymization key in `path`: its bytes, less one final line break.

    Raises:
        KeyFileError: the file is missing, unreadable, empty or shorter than
            `MIN_KEY_BYTES` bytes (a short key makes pseudonyms guessable).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file; {KEY_ADVICE}") from None
    except OSError as error:
        raise KeyFileError(f"{path}: cannot read the key file ({error.strerror})") from None
    key = data[:-2] if data.endswith(b"\r\n") else data[:-1] if data.endswith(b"\n") else data
    if not key.strip():
        raise KeyFileError(f"{path}: the key file is empty; {KEY_ADVICE}")
    if len(key) < MIN_KEY_BYTES:
        raise KeyFileError(f"{path}: the key is {len(key)} bytes, at least {MIN_KEY_BYTES} "
                           f"are needed; {KEY_ADVICE}")
    return key


def pseudonym(key, value):
    """HMAC-SHA256 of `str(value)` (UTF-8) under `key`, as 64 hex digits."""
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymous_ecg_id(key, ecg_id):
    """The pseudonym an output writes for `ecg_id` (a `relative_ecg_id`).

    Windows of one ECG keep their suffix on the pseudonym of the ECG's id
    (`pseudonymous_ecg_id(key, id) + "#w1"`), so they stay together.
    """
    return pseudonym(key, ecg_id)
