"""Fitted probes kept on disk, so that judging on fold 10 reuses the fits that chose on fold 9.

A release is chosen on fold 9 in one run and judged on fold 10 in a later
one; the logistic regressions of both are the same (same training subset,
same C, same start), and on the whole PTB-XL they are the slow part. Each
fit is stored under a digest of exactly what determines it, so a reused fit
is the fit the run would have computed.
"""

import hashlib
from pathlib import Path

import numpy as np

from pclr_keras.atomic import replacing


class FitCache:
    """Logistic-regression solutions by (training features, labels, C, start)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(train_x, train_y, C, start):
        digest = hashlib.sha256()
        for array in (train_x, train_y, *(start or ())):
            array = np.ascontiguousarray(array)
            digest.update(str((array.shape, array.dtype.str)).encode())
            digest.update(array.tobytes())
        digest.update(repr(float(C)).encode())
        return digest.hexdigest()

    def get(self, key):
        path = self.folder / f"{key}.npz"
        if not path.exists():
            return None
        with np.load(path) as saved:
            return saved["weights"], saved["intercepts"]

    def put(self, key, solution):
        with replacing(self.folder / f"{key}.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, weights=solution[0], intercepts=solution[1])
