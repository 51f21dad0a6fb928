"""PhysioNet WFDB records (`.hea` + signal file), read with the `wfdb` package."""

from pathlib import Path

import numpy as np
import wfdb

from pclr_keras.io.record import ECGReadError, ECGRecord

_TO_MILLIVOLTS = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}


def _header_fields(comments):
    """`#Age: 56`-style header comments -> {"age": "56", ...} (keys lower-case)."""
    fields = {}
    for comment in comments:
        key, sep, value = comment.partition(":")
        if sep:
            fields[key.strip(" #<>").lower()] = value.strip()
    return fields


def read_wfdb(path):
    """Reads a WFDB record into an `ECGRecord` in millivolts.

    The signal file may be `.dat` or a PhysioNet/CinC challenge `.mat`
    (`16+24` byte offset); gains, baselines and units (`mV`, `uV`, `V`) come
    from the header. Header comments such as `#Age: 74` or `#<sex>: F`
    become `meta` entries (`age`, `sex`, `dx`, ...; keys lower-case).

    Args:
        path: str or Path. The record, with or without `.hea`.

    Raises:
        ECGReadError: the header or signal file is missing, unreadable or
            truncated, or a channel has a unit that is not a voltage.
    """
    record_name = str(Path(path).with_suffix("")) if str(path).endswith(".hea") else str(path)
    try:
        record = wfdb.rdrecord(record_name)
    except Exception as error:  # wfdb raises many types for a bad file
        raise ECGReadError(record_name, f"unreadable WFDB record ({error})") from error
    if record.p_signal is None:
        raise ECGReadError(record_name, "the record holds no signal")
    scales = []
    for name, unit in zip(record.sig_name, record.units):
        scale = _TO_MILLIVOLTS.get(str(unit).strip().lower())
        if scale is None:
            raise ECGReadError(record_name, f"lead {name} has unit {unit!r}, not a voltage")
        scales.append(scale)
    return ECGRecord(
        signal=record.p_signal * np.asarray(scales),
        lead_names=list(record.sig_name),
        fs=float(record.fs),
        source=record_name,
        meta=_header_fields(record.comments or []),
    )
