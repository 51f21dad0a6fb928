"""Readers: one module per file format, each returning an `ECGRecord` in mV."""

from pclr_keras.io.record import ECGReadError, ECGRecord
from pclr_keras.io.wfdb_records import read_wfdb

__all__ = ["ECGReadError", "ECGRecord", "read_wfdb"]
