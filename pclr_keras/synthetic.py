"""A synthetic patient cohort, for tests and for demos without real data.

Each patient gets a heart (a rate, wave widths and a 3-D cardiac dipole per
wave); each of their ECGs is that heart seen again on another day (rate and
axis drift, noise, baseline wander), projected onto the 12 standard leads
(Einthoven's and Goldberger's relations hold up to noise). Two ECGs of one
patient therefore look alike, as in real archives: what PCLR learns from.
Everything written says it is synthetic.
"""

import numpy as np

from pclr_keras.variants import STANDARD_LEADS

# Unit lead vectors (x: left, y: down, z: front) of the 12 standard leads.
_LEAD_VECTORS = {
    "I": (1, 0, 0), "II": (0.5, 0.87, 0), "III": (-0.5, 0.87, 0),
    "aVR": (-0.87, -0.5, 0), "aVL": (0.87, -0.5, 0), "aVF": (0, 1, 0),
    "V1": (-0.4, 0.1, 0.9), "V2": (-0.1, 0.1, 1.0), "V3": (0.3, 0.1, 0.95),
    "V4": (0.6, 0.1, 0.8), "V5": (0.85, 0.1, 0.5), "V6": (1.0, 0.1, 0.1),
}
_WAVES = ("P", "Q", "R", "S", "T")
_WAVE_TIMING = {"P": -0.2, "Q": -0.03, "R": 0.0, "S": 0.03, "T": 0.28}  # s from R


def _patient(rng):
    """One heart: rate, wave widths and dipoles, age and sex."""
    sex = int(rng.integers(2))
    age = int(rng.integers(20, 90))
    dipoles = {w: rng.normal(size=3) for w in _WAVES}
    scale = {"P": 0.15, "Q": 0.15, "R": 1.2 - 0.2 * sex, "S": 0.4, "T": 0.35}
    for wave in _WAVES:
        dipoles[wave] *= scale[wave] / np.linalg.norm(dipoles[wave])
    dipoles["R"][:2] = np.abs(dipoles["R"][:2])  # a roughly normal axis
    return {
        "sex": sex, "age": age,
        "heart_rate": rng.uniform(50, 95) + 0.15 * (age - 50),
        "widths": {w: rng.uniform(0.6, 1.4) * base for w, base in
                   {"P": 0.025, "Q": 0.008, "R": 0.012, "S": 0.01, "T": 0.05}.items()},
        "dipoles": dipoles,
    }


def synthetic_ecg(patient, rng, seconds=10.0, fs=500.0):
    """One 12-lead ECG (samples, 12) in mV of `patient` on a given day."""
    t = np.arange(int(round(seconds * fs))) / fs
    rate = patient["heart_rate"] * rng.uniform(0.93, 1.07)
    beats = np.arange(rng.uniform(0.1, 0.6), seconds + 0.5, 60.0 / rate)
    leads = np.array([_LEAD_VECTORS[lead] for lead in STANDARD_LEADS], dtype=float)
    signal = np.zeros((len(t), 12))
    for wave in _WAVES:
        dipole = patient["dipoles"][wave] * rng.uniform(0.9, 1.1) + rng.normal(scale=0.02, size=3)
        shape = sum(np.exp(-((t - beat - _WAVE_TIMING[wave]) / patient["widths"][wave]) ** 2)
                    for beat in beats)
        signal += np.outer(shape, leads @ dipole)
    wander = 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6.3))
    return signal + wander[:, None] + rng.normal(scale=0.02, size=signal.shape)


def example_ecg(fs=100.0, seconds=10.0, seed=0):
    """One synthetic 12-lead ECG (samples, 12) in mV, `STANDARD_LEADS` order:
    a valid input wherever an example is needed (e.g. warm-up requests)."""
    rng = np.random.default_rng(seed)
    return synthetic_ecg(_patient(rng), rng, seconds=seconds, fs=fs)


def write_cohort(folder, patients=48, ecgs_per_patient=(2, 3), seed=0, fs=500.0):
    """Writes a cohort as WFDB records plus `manifest.csv` (path, patient_id, labels).

    Args:
        folder: str or Path. Created if needed.
        patients: int. Number of patients.
        ecgs_per_patient: (low, high). Each patient gets a number of ECGs
            drawn uniformly in this inclusive range.
        seed: int. The whole cohort is a function of it.
        fs: float. Sampling rate of the records.

    Returns:
        Path of the manifest.
    """
    import pandas as pd
    import wfdb
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(patients):
        patient = _patient(rng)
        for e in range(int(rng.integers(ecgs_per_patient[0], ecgs_per_patient[1] + 1))):
            name = f"synthetic_p{p:04d}_e{e}"
            wfdb.wrsamp(name, fs=fs, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
                        p_signal=synthetic_ecg(patient, rng, fs=fs), fmt=["16"] * 12,
                        adc_gain=[1000.0] * 12, baseline=[0] * 12,
                        comments=["synthetic ECG (pclr_keras.synthetic), not a recording",
                                  f"Age: {patient['age']}", f"Sex: {patient['sex']}"],
                        write_dir=str(folder))
            rows.append({"path": name, "patient_id": f"P{p:04d}", "age": patient["age"],
                         "sex": patient["sex"], "synthetic": True})
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest
