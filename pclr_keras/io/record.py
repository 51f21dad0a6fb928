"""What every reader returns: samples in mV, lead names, rate, and metadata."""

import dataclasses
import traceback
from pathlib import Path

import numpy as np


class ECGReadError(OSError):
    """A file could not be read as an ECG; the message names the file and why."""

    def __init__(self, source, reason):
        super().__init__(f"{source}: {reason}")
        self.source = str(source)
        self.reason = reason


def read_failure(path, error):
    """An errors-report row for a reader that raised something unexpected (a bug on one file).

    Bulk jobs record it and go on; the message ends with where it was raised.
    """
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (raised at {Path(frames[-1].filename).name}:{frames[-1].lineno} in " \
            f"{frames[-1].name})" if frames else ""
    return str(path), "unreadable", f"{path}: {type(error).__name__}: {error}{where}"


@dataclasses.dataclass
class ECGRecord:
    """One ECG as read from a file, before preprocessing.

    Args:
        signal: float array (samples, leads) in millivolts.
        lead_names: list of str, one per column, as spelled in the file.
        fs: float. Sampling rate in Hz.
        source: str. The file it came from (for error reports).
        meta: dict. What the file says about the ECG: `patient_id`, `age`,
            `sex`, `dx` (diagnosis codes) where present.
    """

    signal: np.ndarray
    lead_names: list
    fs: float
    source: str
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def duration_s(self):
        return self.signal.shape[0] / self.fs
