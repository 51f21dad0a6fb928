"""Pseudonymization keys: read exactly, refused with the file named, never the key."""

import pytest

from pclr_keras.deidentify.pseudonyms import MIN_KEY_BYTES, KeyFileError, read_key
from test_deidentify import KEY


def test_read_key_strips_one_line_break_only(tmp_path):
    for ending in (b"", b"\n", b"\r\n"):
        (tmp_path / "key").write_bytes(KEY + ending)
        assert read_key(tmp_path / "key") == KEY
    (tmp_path / "key").write_bytes(b" " + KEY + b"\n\n")
    assert read_key(tmp_path / "key") == b" " + KEY + b"\n"


@pytest.mark.parametrize("content, words", [
    (None, "no such key file"), (b"", "empty"), (b"\n", "empty"), (b"   \n", "empty"),
    (b"short-secret-17\n", f"15 bytes, at least {MIN_KEY_BYTES}"), ("dir", "cannot read")])
def test_key_file_errors_name_the_file_never_the_key(tmp_path, content, words):
    path = tmp_path / "pclr.key"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyFileError) as error:
        read_key(path)
    assert str(error.value).startswith(f"{path}: ") and words in str(error.value)
    assert "short-secret" not in str(error.value)
    if content is None or content.strip() == b"":
        assert "openssl rand -hex 32" in str(error.value)
