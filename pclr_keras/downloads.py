"""Moved to `pclr_keras.weights.downloads`; this path re-exports it for one release."""

from pclr_keras.weights.downloads import (
    CHUNK_BYTES, USER_AGENT, DownloadError, fetch_file, file_digest, open_url)

__all__ = ["CHUNK_BYTES", "USER_AGENT", "DownloadError", "fetch_file", "file_digest", "open_url"]
