"""Preprocessing on the real PTB-XL and LUDB records in ../shared."""

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import require_shared
from pclr_keras.io import read_wfdb
from pclr_keras.preprocess import ECGValidationError, leads_in_variant_order, preprocess_ecg
from pclr_keras.variants import ECG_DURATION_S, VARIANTS

ROOT = Path(__file__).resolve().parents[1]


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


# The quick start's statement on the validation thresholds, with the figures it gives.
CLAIM_PAGE = "docs/quick-start.md"
DOCUMENTED_CLAIM = re.compile(
    r"On the (?P<count>[\d,]+) real PTB-XL and LUDB records here, none is rejected; "
    r"the smallest lead swings (?P<swing>[\d.]+) mV and the largest robust amplitude "
    r"is (?P<amplitude>[\d.]+) mV\.")
# Every WFDB record in ../shared/data, as its README counts them.
REAL_RECORDS = {"ptbxl/records100": 4377, "ptbxl/records500": 500, "ludb/data": 200}


def documented_claim():
    text = " ".join((ROOT / CLAIM_PAGE).read_text(encoding="utf-8").split())
    match = DOCUMENTED_CLAIM.search(text)
    assert match, f"{CLAIM_PAGE} no longer says what this test checks of the real records"
    return match


@pytest.fixture(scope="module")
def every_real_record():
    """Each real record read and preprocessed as a user would:
    ({folder: number of records}, {record: outcome}).

    The outcome is the error's text, or the smallest peak-to-peak value and the
    largest robust amplitude (99th percentile of |x - median|) of the leads the
    encoder reads, over the 10 s it reads.
    """
    data = require_shared("data")
    found = {folder: sorted((data / folder).rglob("*.hea")) for folder in REAL_RECORDS}
    outcomes = {}
    for path in (path for paths in found.values() for path in paths):
        record = read_wfdb(path)
        name = str(path.relative_to(data))
        try:
            _, flat = preprocess_ecg(record.signal, record.fs, record.lead_names,
                                     source=name, return_flat_leads=True)
        except ECGValidationError as error:
            outcomes[name] = str(error)
            continue
        window = leads_in_variant_order(record.signal, record.lead_names)
        window = window[: round(ECG_DURATION_S * record.fs)]
        swing = (window.max(axis=0) - window.min(axis=0)).min()
        amplitude = np.percentile(np.abs(window - np.median(window, axis=0)), 99, axis=0).max()
        outcomes[name] = f"flat leads {flat}" if flat else (swing, amplitude)
    return {folder: len(paths) for folder, paths in found.items()}, outcomes


@pytest.mark.slow
def test_no_real_record_is_rejected(every_real_record):
    """The documented claim, on all of the records it names: none rejected, none flagged."""
    counts, outcomes = every_real_record
    assert counts == REAL_RECORDS
    assert len(outcomes) == int(documented_claim()["count"].replace(",", ""))
    assert {name: outcome for name, outcome in outcomes.items()
            if isinstance(outcome, str)} == {}


@pytest.mark.slow
def test_real_record_extremes_are_the_readmes_figures(every_real_record):
    """The documented figures: the extremes over all records, to the digits it gives."""
    _, outcomes = every_real_record
    claim = documented_claim()
    kept = [outcome for outcome in outcomes.values() if isinstance(outcome, tuple)]
    swing = min(swing for swing, _ in kept)
    amplitude = max(amplitude for _, amplitude in kept)
    decimals = [len(claim[name].partition(".")[2]) for name in ("swing", "amplitude")]
    assert (f"{swing:.{decimals[0]}f}", f"{amplitude:.{decimals[1]}f}") == \
        (claim["swing"], claim["amplitude"])
