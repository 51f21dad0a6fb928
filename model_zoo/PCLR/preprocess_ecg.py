"""ml4h's `preprocess_ecg` API (`LEADS`, `process_ecg`) on top of `pclr_keras`.

`process_ecg` keeps ml4h's contract: a dict of exactly the 12 leads, each
assumed to hold 10 s, stretched to 4096 samples. Input that
`pclr_keras.preprocess_ecg` would reject (flat, NaN, microvolts) is still
processed, as ml4h did, but with a warning instead of in silence.
"""

import warnings

import numpy as np

from pclr_keras.preprocess import ECGValidationError, preprocess_ecg, resample_linear
from pclr_keras.variants import ECG_DURATION_S, STANDARD_LEADS, get_variant

LEADS = list(STANDARD_LEADS)


def process_ecg(ecg, variant="pclr"):
    """Prepares one ECG (dict lead -> 10 s of mV samples) for a 12-lead variant.

    Returns (4096, 12) for `pclr` (ml4h's default) and (2500, 12) for `c3po`.
    """
    length = get_variant(variant).input_length
    if set(ecg) != set(LEADS):
        raise ValueError(f"process_ecg needs exactly the leads {LEADS}; got {sorted(ecg)}.")
    samples = len(ecg[LEADS[0]])
    try:
        # Strict, so that any flat lead is warned about, not tolerated quietly.
        return preprocess_ecg(ecg, fs=samples / ECG_DURATION_S, variant=variant,
                              max_flat_leads=0)
    except ECGValidationError as error:
        warnings.warn(f"{error}; processed anyway, as ml4h's process_ecg does", stacklevel=2)
    stacked = np.stack([np.asarray(ecg[lead], dtype=np.float64) for lead in LEADS], axis=-1)
    return resample_linear(stacked, length).astype(np.float32)
