"""Preprocessing on the real PTB-XL and LUDB records in ../shared."""


import numpy as np
import pytest

from conftest import require_shared
from pclr_keras.io import read_wfdb
from pclr_keras.preprocess import preprocess_ecg
from pclr_keras.variants import VARIANTS


def decode_format16(record):
    """Independent decoding of a WFDB format-16 record from its header text."""
    header = record.with_suffix(".hea").read_text().splitlines()
    _, leads, fs, samples = header[0].split()[:4]
    gains, baselines, names = [], [], []
    for line in header[1: 1 + int(leads)]:
        fields = line.split()
        gain, _, rest = fields[2].partition("(")
        gains.append(float(gain.split("/")[0]))
        baselines.append(int(rest.split(")")[0]) if rest else 0)
        names.append(fields[-1])
    digital = np.fromfile(record.with_suffix(".dat"), dtype="<i2").reshape(int(samples), int(leads))
    return (digital - np.array(baselines)) / np.array(gains), names, float(fs)


def reference_preprocess(millivolts, names, fs, variant):
    """ml4h's recipe, spelled out: first 10 s, np.interp per lead, in lead order."""
    window = millivolts[: int(round(10 * fs))]
    by_name = {name.lower(): window[:, i] for i, name in enumerate(names)}
    length = VARIANTS[variant].input_length
    return np.stack([np.interp(np.linspace(0, 1, length), np.linspace(0, 1, len(window)),
                               by_name[lead.lower()]) for lead in VARIANTS[variant].leads], axis=1)


RECORDS = [
    ("ptbxl/records100/00000/00001_lr", "pclr"),   # 100 Hz, upper-case AVR
    ("ptbxl/records500/00000/00001_hr", "pclr"),   # 500 Hz
    ("ptbxl/records100/00000/00010_lr", "lead_II"),
    ("ludb/data/1", "pclr"),                        # per-lead gain and baseline, lower-case
    ("ludb/data/2", "lead_I"),
    ("ludb/data/3", "c3po"),
]


@pytest.mark.parametrize("relative,variant", RECORDS)
def test_real_record_preprocesses_like_ml4h(relative, variant):
    path = require_shared("data") / relative
    millivolts, names, fs = decode_format16(path)
    record = read_wfdb(path)
    np.testing.assert_allclose(record.signal, millivolts, atol=1e-9)
    ours = preprocess_ecg(record.signal, record.fs, record.lead_names, variant=variant)
    np.testing.assert_allclose(ours, reference_preprocess(millivolts, names, fs, variant),
                               rtol=1e-5, atol=1e-6)
    assert ours.dtype == np.float32


def test_no_real_record_is_rejected():
    """The validation thresholds pass every record of a real sample."""
    data = require_shared("data")
    paths = sorted((data / "ptbxl" / "records100").rglob("*.hea"))[::20] + \
        sorted((data / "ludb" / "data").glob("*.hea"))
    for path in paths:
        record = read_wfdb(path)
        preprocess_ecg(record.signal, record.fs, record.lead_names, source=str(path))
    assert len(paths) > 400
