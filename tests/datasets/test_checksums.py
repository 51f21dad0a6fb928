"""Checksum lists: PhysioNet's SHA256SUMS.txt parsed, a malformed line named."""

import pytest

from conftest import require_shared
from pclr_keras.datasets import DatasetError
from pclr_keras.datasets import checksums


def test_physionet_checksum_lists_parse():
    shared = require_shared("data")
    ptbxl = checksums.parse_sha256sums((shared / "ptbxl" / "SHA256SUMS.txt").read_text())
    assert ptbxl["ptbxl_database.csv"] == (
        "sha256", "cd9bf4e6445c5e022605857c4d6f90c90ff0e62df847da52efaebe94de786156")
    ludb = checksums.parse_sha256sums((shared / "ludb" / "SHA256SUMS.txt").read_text())
    assert len(ludb) == 2805 and "data/1.hea" in ludb
    assert checksums.parse_sha256sums(f"{'a' * 64} *b.bin\n\n") == {"b.bin": ("sha256", "a" * 64)}
    with pytest.raises(DatasetError, match="line 1"):
        checksums.parse_sha256sums("not a checksum line")
