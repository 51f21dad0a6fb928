"""Writers of small real-format ECG files for tests (WFDB via `wfdb.wrsamp`)."""

import numpy as np
import wfdb

from pclr_keras.variants import STANDARD_LEADS


def ecg_like(seconds=10.0, fs=500.0, leads=12, seed=0):
    """mV signals with QRS-like spikes every 0.8 s, per-lead gains, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fs))) / fs
    beats = sum(np.exp(-((t - c) / 0.012) ** 2) for c in np.arange(0.3, seconds, 0.8))
    gains = rng.uniform(0.4, 1.4, size=leads) * rng.choice([-1, 1], size=leads)
    return np.outer(beats, gains) + rng.normal(scale=0.03, size=(len(t), leads))


def write_wfdb(folder, name, signal, fs=500.0, lead_names=STANDARD_LEADS, units="mV",
               comments=(), gain=None):
    """Writes `signal` (samples, leads), in `units`, as a format-16 WFDB record.

    `gain` (digital units per `units`) defaults to 1 uV resolution.
    """
    gain = gain or (1000.0 if units == "mV" else 1.0)
    lead_names = list(lead_names)
    wfdb.wrsamp(name, fs=fs, units=[units] * len(lead_names), sig_name=lead_names,
                p_signal=np.asarray(signal, dtype=np.float64), fmt=["16"] * len(lead_names),
                adc_gain=[gain] * len(lead_names),
                baseline=[0] * len(lead_names), comments=list(comments), write_dir=str(folder))
    return folder / f"{name}.hea"
