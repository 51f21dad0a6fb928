"""A data set's checksum list: fetched first, parsed, and kept beside the files.

PhysioNet publishes `SHA256SUMS.txt` (`<sha256> <path>` lines); a Zenodo
record lists its files' md5s in its API entry. Either becomes
`{path: (algorithm, hex digest)}`, what every file is checked against.
"""

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.parse
from pathlib import Path

from pclr_keras.datasets.catalog import DatasetError
from pclr_keras.weights.downloads import open_url

_SHA256_LINE = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$")


def _read_checksum_list(url, timeout, what):
    try:
        with open_url(url, timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise DatasetError(f"{what}: checksum list {url} could not be fetched: HTTP "
                           f"{error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DatasetError(f"{what}: network failure fetching {url}: {reason}") from error


def parse_sha256sums(text):
    """`<sha256> [*]<path>` lines -> {path: ("sha256", hex)}."""
    checksums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _SHA256_LINE.match(line)
        if not match:
            raise DatasetError(f"line {number} of the checksum list is not "
                               f"'<sha256> <path>': {line[:120]!r}")
        checksums[match.group(2)] = ("sha256", match.group(1).lower())
    return checksums


def parse_zenodo_record(text):
    """A Zenodo record's JSON -> {file key: (algorithm, hex)} from its `md5:...` checksums."""
    record = json.loads(text)
    files = record.get("files", [])
    if isinstance(files, dict):  # InvenioRDM form: {"entries": {key: {...}}}
        files = list(files.get("entries", {}).values())
    checksums = {}
    for entry in files:
        algorithm, _, digest = str(entry.get("checksum", "")).partition(":")
        key = entry.get("key") or entry.get("filename")
        if key and digest and algorithm in hashlib.algorithms_guaranteed:
            checksums[key] = (algorithm, digest.lower())
    return checksums


def checksum_list(dataset, name, base, folder, timeout):
    """(its URL, path -> checksum) of the data set's checksum list; a sha256sums
    list is kept beside the files."""
    checksums_url = urllib.parse.urljoin(base, dataset.checksums)
    raw = _read_checksum_list(checksums_url, timeout, name)
    try:
        text = raw.decode("utf-8")
        listed = (parse_zenodo_record(text) if dataset.checksum_format == "zenodo"
                  else parse_sha256sums(text))
    except (UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{name}: {checksums_url} is not a checksum list ({error})") from error
    except DatasetError as error:
        raise DatasetError(f"{name}: {checksums_url}: {error}") from error
    if not listed:
        raise DatasetError(f"{name}: {checksums_url} lists no files")
    if dataset.checksum_format == "sha256sums":
        local_list = folder / Path(dataset.checksums).name
        tmp = local_list.with_name(local_list.name + ".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, local_list)
    return checksums_url, listed
