"""NumPy ECG files (`.npy`, `.npz`), which store samples but rarely what they mean.

A `.npy` holds one array: (samples, leads) for one ECG, or (ecgs, samples,
leads) for many; `layout="leads_first"` reads (leads, samples) and (ecgs,
leads, samples) instead. A `.npz` holds either such an array under `signal`
or `ecg`, optionally with `fs`, `lead_names` and `units` beside it, or one
1-D array per lead, keyed by lead name (`fs`, `units` keys allowed too).

Arguments win over what the file stores (they are the caller's knowledge of
this particular file); file keys fill in the rest. The sampling rate and lead
names must come from one of the two; units default to mV.
"""

import zipfile

import numpy as np

from pclr_keras.io.record import ECGReadError, ECGRecord

LAYOUTS = ("samples_first", "leads_first")
SIGNAL_KEYS = ("signal", "ecg")
INFO_KEYS = ("fs", "lead_names", "units")

_TO_MILLIVOLTS = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3}


def iter_numpy(path, *, fs=None, lead_names=None, units=None, layout="samples_first"):
    """Yields the ECGs in a `.npy` or `.npz` file as `ECGRecord`s in mV.

    Args:
        path: str or Path.
        fs: float or None. Sampling rate in Hz; needed unless a `.npz` stores `fs`.
        lead_names: list of str or None. One per lead; needed unless a `.npz`
            stores `lead_names` or is keyed by lead.
        units: "mV", "uV" (or "µV") or "V", or None for the file's `units`
            key, else mV.
        layout: "samples_first" or "leads_first": the order of the last two
            axes of the signal array (moot for a .npz keyed by lead).

    Yields:
        ECGRecord: one for a 2-D array (source: the path), or one per row of
        a 3-D array (source `f"{path}#row={i}"`).

    Raises:
        ECGReadError: the file is unreadable or truncated; the sampling rate
            or lead names are missing; the array is not 2-D or 3-D numbers;
            its lead axis does not match the lead names; unknown units.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    path = str(path)
    signal, stored = _load(path, layout)
    fs = fs if fs is not None else stored.get("fs")
    lead_names = lead_names if lead_names is not None else stored.get("lead_names")
    units = units if units is not None else stored.get("units", "mV")
    if fs is None:
        raise ECGReadError(path, "sampling rate unknown: pass fs= (Hz), or store an 'fs' "
                                 "key in a .npz")
    if lead_names is None:
        raise ECGReadError(path, "lead names unknown: pass lead_names= (one per lead), or "
                                 "store a 'lead_names' key in a .npz")
    if signal.ndim not in (2, 3) or signal.dtype.kind not in "iuf":
        raise ECGReadError(path, f"expected a 2-D (samples, leads) or 3-D (ecgs, samples, "
                                 f"leads) array of numbers, found {signal.dtype} {signal.shape}")
    if layout == "leads_first":
        signal = np.swapaxes(signal, -1, -2)
    lead_names = [str(name) for name in np.ravel(lead_names)]
    if signal.shape[-1] != len(lead_names):
        raise ECGReadError(path, f"array {signal.shape} ({layout}) has {signal.shape[-1]} "
                                 f"leads but {len(lead_names)} lead names were given; for "
                                 "(leads, samples) arrays pass layout='leads_first'")
    scale = _TO_MILLIVOLTS.get(str(units).strip().lower())
    if scale is None:
        raise ECGReadError(path, f"unknown units {units!r} (expected mV, uV or V)")
    fs = float(np.asarray(fs).item())
    if not fs > 0:
        raise ECGReadError(path, f"sampling rate {fs} Hz is not positive")
    if signal.ndim == 2:
        yield ECGRecord(_millivolts(signal, scale), lead_names, fs, path, {})
        return
    for row in range(signal.shape[0]):
        yield ECGRecord(_millivolts(signal[row], scale), lead_names, fs, f"{path}#row={row}", {})


def _millivolts(signal, scale):
    """Float copy in mV: float32 for float16/32 and small ints, else float64."""
    return np.ascontiguousarray(signal, dtype=np.result_type(signal.dtype, np.float32)) * scale


def _load(path, layout):
    """(signal array in `layout`, {fs, lead_names, units} stored in the file)."""
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
        if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
            raise ECGReadError(path, "not a NumPy .npy or .npz file (no NumPy or zip signature)")
        loaded = np.load(path, mmap_mode="r", allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded, {}
        with loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except ECGReadError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ECGReadError(path, f"unreadable or truncated NumPy file ({error})") from error
    stored = {key: _plain(arrays.pop(key)) for key in INFO_KEYS if key in arrays}
    signal_key = next((key for key in SIGNAL_KEYS if key in arrays), None)
    if signal_key is not None:
        return arrays[signal_key], stored
    if not arrays or any(array.ndim != 1 for array in arrays.values()):
        raise ECGReadError(path, "a .npz needs a 'signal' (or 'ecg') array, or one 1-D array "
                                 f"per lead; found {_shapes(arrays)}")
    if len({len(array) for array in arrays.values()}) > 1:
        raise ECGReadError(path, f"lead arrays differ in length: {_shapes(arrays)}")
    stored.setdefault("lead_names", list(arrays))
    return np.stack(list(arrays.values()), axis=0 if layout == "leads_first" else 1), stored


def _plain(array):
    """A stored 0-d value as a Python scalar; arrays (lead names) as they are."""
    return array.item() if array.ndim == 0 else array


def _shapes(arrays):
    return ", ".join(f"{key} {array.shape}" for key, array in arrays.items()) or "no arrays"
