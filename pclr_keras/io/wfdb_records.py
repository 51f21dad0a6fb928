"""PhysioNet WFDB records (`.hea` + signal file), read with the `wfdb` package.

Most ECG archives (PTB-XL, LUDB, the PhysioNet Challenges' `.dat` records)
store every lead in one format-16 file. Those are read here directly (the
header as text, the samples with numpy): `wfdb.rdrecord` spends about 90 %
of a 10 s record's read time parsing the header through pandas, which makes
reading, not the model, the limit of `pclr embed` on raw files. Every other
layout goes through `wfdb`, and both give the same values (tested).
"""

from pathlib import Path

import numpy as np
import wfdb

from pclr_keras.io.record import ECGReadError, ECGRecord

_TO_MILLIVOLTS = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}
_FORMAT16_INVALID = -32768  # WFDB's "no sample" value in format 16


class _Record:
    """The fields of a record `read_wfdb` uses, as `wfdb.Record` names them."""

    def __init__(self, p_signal, sig_name, units, fs, comments):
        self.p_signal, self.sig_name, self.units = p_signal, sig_name, units
        self.fs, self.comments = fs, comments


def _read_format16(record_name):
    """A record whose signals all sit in one plain format-16 `.dat` file, or None.

    None (read it with `wfdb` instead) for anything else the header allows:
    multi-segment records, other formats, skew, byte offsets, several files,
    a missing sample count or gain.
    """
    header = Path(record_name + ".hea")
    try:
        lines = header.read_text(encoding="latin-1").splitlines()
    except OSError:
        return None
    comments = [line[1:].strip() for line in lines if line.startswith("#")]
    lines = [line.split("#")[0].split() for line in lines
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines or len(lines[0]) < 4 or "/" in lines[0][0]:
        return None
    try:
        count, samples = int(lines[0][1]), int(lines[0][3])
        fs = float(lines[0][2].split("/")[0].split("(")[0])
    except ValueError:
        return None
    signals = lines[1:1 + count]
    if count < 1 or len(signals) != count or any(len(fields) < 3 for fields in signals):
        return None
    files = {fields[0] for fields in signals}
    if len(files) != 1 or not files.pop().endswith(".dat") or \
            any(fields[1] != "16" for fields in signals):
        return None
    gains, baselines, units, names = [], [], [], []
    for index, fields in enumerate(signals):
        gain_text, _, unit = fields[2].partition("/")
        gain_text, _, baseline_text = gain_text.partition("(")
        adc_zero = int(fields[4]) if len(fields) > 4 else 0
        try:
            gain = float(gain_text)
            baseline = int(baseline_text.rstrip(")")) if baseline_text else adc_zero
        except ValueError:
            return None
        if gain == 0:
            return None  # "uncalibrated": wfdb's defaults apply
        gains.append(gain)
        baselines.append(baseline)
        units.append(unit or "mV")
        names.append(" ".join(fields[8:]) if len(fields) > 8 else f"ch{index + 1}")
    data = Path(record_name).with_name(signals[0][0])
    try:
        raw = np.fromfile(data, dtype="<i2")
    except OSError as error:
        raise ECGReadError(record_name, f"unreadable WFDB record ({error})") from error
    if raw.size < samples * count:
        raise ECGReadError(record_name, f"unreadable WFDB record (signal file {data.name} holds "
                                        f"{raw.size // count} of {samples} samples: truncated)")
    raw = raw[:samples * count].reshape(samples, count)
    signal = (raw - np.asarray(baselines, np.float64)) / np.asarray(gains)
    signal[raw == _FORMAT16_INVALID] = np.nan
    return _Record(signal, names, units, fs, comments)


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
        record = _read_format16(record_name) or wfdb.rdrecord(record_name)
    except ECGReadError:
        raise
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
