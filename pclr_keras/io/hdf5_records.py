"""HDF5 ECG files: the SPH release, CODE (CODE-15%, CODE test set) and ml4h tensors.

Three layouts are recognised (`layout="auto"` looks for them in this order):

- `"sph"`: Liu et al., Sci Data 9:272 (2022). One dataset `ecg`, shape
  (12, samples), float16 in mV, no attributes. Neither rate nor lead order
  is stored; the release's metadata.csv gives 500 Hz, and readers of the
  release (e.g. torch_ecg's SPH class) use the standard order I, II, III,
  aVR, aVL, aVF, V1-V6, in which the limb leads of real SPH files obey
  Einthoven's and Goldberger's relations.
- `"code"`: Ribeiro et al., Nat Commun 11:1760 (2020). Dataset `tracings`,
  shape (exams, 4096, 12), 400 Hz, leads DI, DII, DIII, aVR, aVL, aVF,
  V1-V6, plus `exam_id` (exams,) in CODE-15% (the CODE test set
  `ecg_tracings.hdf5` has `tracings` only). 10 s (4000 samples) and 7 s
  (2800 samples) exams are centred in 4096 samples with zeros at both
  ends; the zeros are cut off here so that a record's duration is its real
  one. Values are in mV: the README's "scale 1e-4V" contradicts its own
  factor ("if the signal is in V it should be multiplied by 1000"), and the
  authors and the PhysioNet 2025 challenge read them as mV.
- `"ml4h"`: files written by ml4h's tensorizers, one per patient, with one
  dataset per lead and ECG. UK Biobank: `ukb_ecg_rest/strip_<lead>/
  instance_<i>` (one instance per ECG, 5000 samples at 500 Hz, values as
  the CardioSoft XML stores them, read as microvolts as ml4h's PCLR example
  does by dividing by 1000). Other files name each ECG by a group holding
  one dataset per lead (`<ecg>/<lead>`, as ml4h's MGB writer does under
  `partners_ecg_rest/<date-time>/`); their rate and units must come from
  attributes (`fs`, `units`) or the arguments.
"""

import re
import warnings
from pathlib import Path

import h5py
import numpy as np

from pclr_keras.io.record import ECGReadError, ECGRecord

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
SPH_FS = 500.0
CODE_FS = 400.0
UKB_STRIP_FS = 500.0
UKB_STRIP_UNITS = "uV"
LAYOUTS = ("auto", "sph", "code", "ml4h")

_TO_MILLIVOLTS = {"mv": 1.0, "millivolts": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3,
                  "microvolts": 1e-3, "v": 1e3, "volts": 1e3}
_LEAD_INDEX = {lead.lower(): i for i, lead in enumerate(STANDARD_LEADS)}
_FS_ATTRIBUTES = ("fs", "sampling_rate", "sample_rate")


def iter_hdf5(path, *, fs=None, lead_names=None, units=None, layout="auto", group=None):
    """Yields the ECGs in an HDF5 file as `ECGRecord`s in mV.

    Args:
        path: str or Path.
        fs: float or None. Sampling rate in Hz where the file does not give
            one (SPH default 500, CODE 400, UKB strips 500).
        lead_names: list of str or None. Names for the lead axis of SPH and
            CODE arrays, which store none (default `STANDARD_LEADS`).
        units: "mV", "uV" or "V", or None. Units where the file does not give
            them (SPH and CODE default mV, UKB strips uV); an ml4h `units`
            attribute wins, since it describes that dataset.
        layout: "auto", "sph", "code" or "ml4h".
        group: str or None. Look for ml4h lead datasets only under this group.

    Yields:
        ECGRecord, one per ECG. A bad ECG in a file of many (an all-zero CODE
        row, an ml4h ECG with unreadable leads) is skipped with a warning.

    Raises:
        ECGReadError: the file is not readable HDF5 (or truncated), has none
            of the layouts, has a dataset of the wrong shape, or has no ECG
            that could be read.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
    path = str(path)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ECGReadError(path, f"not a readable HDF5 file ({error})") from error
    with file:
        if layout == "auto":
            layout = next((name for name, key in (("sph", "ecg"), ("code", "tracings"))
                           if isinstance(file.get(key), h5py.Dataset)), "ml4h")
        read = {"sph": _read_sph, "code": _iter_code, "ml4h": _iter_ml4h}[layout]
        try:
            yield from read(file, path, fs=fs, lead_names=lead_names, units=units, group=group)
        except ECGReadError:
            raise
        except OSError as error:  # h5py reports damaged data blocks as OSError
            raise ECGReadError(path, f"damaged HDF5 data ({error})") from error


def _scale(units, source):
    """mV per unit of `units`, or ECGReadError naming the units."""
    scale = _TO_MILLIVOLTS.get(str(units).strip().lower())
    if scale is None:
        raise ECGReadError(source, f"unknown units {units!r} (expected mV, uV or V)")
    return scale


def _float(array):
    """The array as float32 (float16/32, small ints) or float64 (the rest)."""
    return array.astype(np.result_type(array.dtype, np.float32), copy=False)


def _dataset(file, name, path, ndim):
    """The top-level dataset `name`, or ECGReadError if it is missing or not `ndim`-D."""
    dataset = file.get(name)
    if not isinstance(dataset, h5py.Dataset) or dataset.ndim != ndim:
        found = dataset.shape if isinstance(dataset, h5py.Dataset) else "nothing"
        raise ECGReadError(path, f"expected a {ndim}-D dataset {name!r}, found {found}")
    return dataset


def _read_sph(file, path, *, fs, lead_names, units, group):
    """The one ECG of an SPH file; `ecg_id` is the file stem (e.g. SPH00001)."""
    ecg = _dataset(file, "ecg", path, ndim=2)
    leads = list(lead_names or STANDARD_LEADS)
    if ecg.shape[0] != len(leads):
        raise ECGReadError(path, f"dataset 'ecg' has shape {ecg.shape}; expected "
                                 f"({len(leads)}, samples), leads first")
    signal = np.ascontiguousarray(_float(ecg[()]).T * _scale(units or "mV", path))
    yield ECGRecord(signal=signal, lead_names=leads, fs=float(fs or SPH_FS), source=path,
                    meta={"ecg_id": Path(path).stem})


def _iter_code(file, path, *, fs, lead_names, units, group):
    """One record per exam, zero padding cut off.

    CODE-15% part files end with one padding row (exam_id 0, all zeros),
    which is skipped silently; any other all-zero row is skipped with a
    warning. Without `exam_id` (the CODE test set) sources are `#row=i`.
    """
    tracings = _dataset(file, "tracings", path, ndim=3)
    leads = list(lead_names or STANDARD_LEADS)
    if tracings.shape[2] != len(leads):
        raise ECGReadError(path, f"dataset 'tracings' has shape {tracings.shape}; "
                                 f"expected (exams, samples, {len(leads)})")
    exam_ids = _dataset(file, "exam_id", path, ndim=1)[()] if "exam_id" in file else None
    if exam_ids is not None and len(exam_ids) != len(tracings):
        raise ECGReadError(path, f"{len(exam_ids)} exam_id values for {len(tracings)} tracings")
    scale = _scale(units or "mV", path)
    found = 0
    for row in range(len(tracings)):
        exam_id = None if exam_ids is None else int(exam_ids[row])
        source = f"{path}#row={row}" if exam_id is None else f"{path}#exam_id={exam_id}"
        tracing = tracings[row]
        recorded = np.flatnonzero(np.any(tracing != 0, axis=1))
        if recorded.size == 0:
            if exam_id != 0:
                warnings.warn(f"{source}: skipped, every sample is zero", stacklevel=2)
            continue
        found += 1
        yield ECGRecord(signal=_float(tracing[recorded[0]:recorded[-1] + 1]) * scale,
                        lead_names=leads, fs=float(fs or CODE_FS), source=source,
                        meta={} if exam_id is None else {"ecg_id": exam_id})
    if not found:
        raise ECGReadError(path, "no exam with a non-zero tracing")


def _lead(name):
    """The lead a dataset or group name stands for ('strip_aVR' -> 'aVR'), or None."""
    lead = name[len("strip_"):] if name.lower().startswith("strip_") else name
    return lead if lead.lower() in _LEAD_INDEX else None


def _find_ml4h_ecgs(root):
    """{(container, ecg key): {lead: dataset}} for the lead datasets under `root`.

    A dataset named by a lead belongs to the ECG its group names
    (`<ecg>/<lead>`); one inside a group named by a lead belongs to the ECG
    its own name gives (`strip_<lead>/instance_<i>`).
    """
    ecgs = {}

    def visit(name, item):
        if not isinstance(item, h5py.Dataset):
            return
        *container, parent, own = [""] * 2 + name.split("/")
        if _lead(own):
            key, lead = ("/".join(filter(None, container)), parent), _lead(own)
        elif _lead(parent):
            key, lead = ("/".join(filter(None, container)), own), _lead(parent)
        else:
            return
        ecgs.setdefault(key, {})[lead] = item

    root.visititems(visit)
    return ecgs


def _attribute(dataset, names):
    """The first of `names` set on the dataset or its group, as a plain value, else None."""
    for holder in (dataset, dataset.parent):
        for name in names:
            if name in holder.attrs:
                return _plain(holder.attrs[name])
    return None


def _plain(value):
    """An attribute value as str or a Python number (h5py gives bytes and NumPy types)."""
    if isinstance(value, bytes):
        return value.decode()
    return np.asarray(value).reshape(-1)[0].item() if np.size(value) == 1 else value


def _ml4h_record(datasets, source, meta, *, fs, units):
    """One ml4h ECG from its lead datasets; ECGReadError says what is wrong."""
    leads = sorted(datasets, key=lambda lead: _LEAD_INDEX[lead.lower()])
    columns, rates = [], set()
    for lead in leads:
        dataset = datasets[lead]
        if dataset.ndim != 1 or dataset.dtype.kind not in "iuf":
            hint = (f"; compressed ({_plain(dataset.attrs['method'])}) by ml4h's MGB "
                    "tensorizer, decompress it first" if "method" in dataset.attrs else "")
            raise ECGReadError(source, f"lead {lead}: dataset {dataset.name} is "
                                       f"{dataset.dtype} {dataset.shape}, not 1-D numbers{hint}")
        is_strip = dataset.parent.name.rsplit("/", 1)[-1].lower().startswith("strip_")
        lead_units = _attribute(dataset, ("units",))
        if lead_units is None:
            lead_units = units or (UKB_STRIP_UNITS if is_strip else None)
        if lead_units is None:
            raise ECGReadError(source, f"lead {lead}: units unknown; pass units= (mV, uV or V)")
        rate = _attribute(dataset, _FS_ATTRIBUTES)
        if rate is None:
            rate = fs or (UKB_STRIP_FS if is_strip else None)
        if rate is None:
            raise ECGReadError(source, "sampling rate unknown; pass fs= (Hz)")
        rates.add(float(rate))
        columns.append(_float(dataset[()]) * _scale(lead_units, source))
    if len(rates) > 1 or len({len(column) for column in columns}) > 1:
        raise ECGReadError(source, "leads differ in length or sampling rate: " + ", ".join(
            f"{lead} {len(column)}" for lead, column in zip(leads, columns)))
    date = _attribute(datasets[leads[0]], ("date",))
    return ECGRecord(signal=np.stack(columns, axis=1), lead_names=leads, fs=rates.pop(),
                     source=source, meta=meta if date is None else {**meta, "date": date})


def _natural_order(item):
    """Sort key putting instance_2 before instance_10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", "/".join(item[0]))]


def _iter_ml4h(file, path, *, fs, lead_names, units, group):
    """One record per ECG key (instance or date) under `group`.

    `ecg_id` is the key ("instance_0", "2019-05-02T10:31:00", or the file
    stem for a file holding one ECG's leads at its top); `patient_id` is a
    `patient_id` attribute of the ECG's group or the file, else the file
    stem (ml4h names per-patient files by sample id or MRN). Leads missing
    from an ECG are left out, for the caller to report.
    """
    if group is not None and not isinstance(file.get(group), h5py.Group):
        raise ECGReadError(path, f"no group {group!r} in the file")
    ecgs = _find_ml4h_ecgs(file[group] if group else file)
    if not ecgs:
        raise ECGReadError(path, "no ECG found: expected a dataset 'ecg' (SPH), 'tracings' "
                                 "(CODE) or datasets named by lead (ml4h, e.g. "
                                 "ukb_ecg_rest/strip_I/instance_0); top-level keys: "
                                 f"{sorted(file)}")
    stem = Path(path).stem
    problems = []
    for (container, key), datasets in sorted(ecgs.items(), key=_natural_order):
        name = "/".join(filter(None, (group, container, key)))
        source = f"{path}#{name}" if name else path
        patient_id = _attribute(next(iter(datasets.values())), ("patient_id",))
        if patient_id is None:
            patient_id = _plain(file.attrs.get("patient_id", stem))
        try:
            yield _ml4h_record(datasets, source, {"ecg_id": key or stem, "patient_id": patient_id},
                               fs=fs, units=units)
        except ECGReadError as error:
            warnings.warn(f"skipped {error}", stacklevel=2)
            problems.append(error.reason)
    if len(problems) == len(ecgs):
        raise ECGReadError(path, f"no ECG could be read ({problems[0]})")
