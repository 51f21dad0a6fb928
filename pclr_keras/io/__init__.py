"""Readers: one module per file format, each giving `ECGRecord`s in mV.

`iter_records(path)` picks the reader from the file's content where names
are ambiguous (GE MUSE, Philips and HL7 aECG files are all `.xml`; DICOM
files often have no suffix) and from its suffix otherwise; a file may hold
one ECG (WFDB, XML, DICOM, SPH) or many (CODE HDF5, ml4h per-patient HDF5,
stacked NumPy arrays).
"""

from pathlib import Path

from pclr_keras.io.dicom_waveform import is_dicom_file
from pclr_keras.io.record import ECGReadError, ECGRecord, read_failure
from pclr_keras.io.safe_xml import xml_root_name
from pclr_keras.io.wfdb_records import read_wfdb

WFDB_SUFFIXES = (".hea",)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hd5")
XML_SUFFIXES = (".xml",)
NUMPY_SUFFIXES = (".npy", ".npz")
DICOM_SUFFIXES = (".dcm", ".dicom")
# Root element of each XML ECG format -> (module, reader).
XML_READERS = {
    "RestingECG": ("pclr_keras.io.muse_xml", "read_muse_xml"),
    "restingecgdata": ("pclr_keras.io.philips_xml", "read_philips_xml"),
    "AnnotatedECG": ("pclr_keras.io.hl7_aecg", "read_hl7_aecg"),
}
_KNOWN_SUFFIXES = WFDB_SUFFIXES + HDF5_SUFFIXES + XML_SUFFIXES + NUMPY_SUFFIXES + DICOM_SUFFIXES


def is_ecg_file(path):
    """Whether a folder walk should read `path` (signal files of WFDB records are not).

    Files without a suffix are read when they are DICOM (the "DICM" marker).
    """
    suffix = Path(path).suffix.lower()
    return suffix in _KNOWN_SUFFIXES or (not suffix and is_dicom_file(path))


def find_ecg_files(sources):
    """Files and folders -> the ECG files among them, sorted by path (folders walked)."""
    found = []
    for source in map(Path, sources):
        if source.is_dir():
            found.extend(p for p in source.rglob("*") if p.is_file() and is_ecg_file(p))
        else:
            found.append(source)
    return sorted(found, key=str)


def record_id(source):
    """An id unique to an ECG: its file without suffix, plus any `#row=...` part."""
    path, sep, part = str(source).partition("#")
    return str(Path(path).with_suffix("")) + sep + part


def _read_xml(path):
    root = xml_root_name(path)
    if root not in XML_READERS:
        raise ECGReadError(path, f"XML root element <{root}> is no ECG format known here "
                                 f"(expected {', '.join(f'<{r}>' for r in XML_READERS)}: "
                                 "GE MUSE, Philips, HL7 aECG)" if root else
                                 "not an XML file (no root element found)")
    import importlib

    module, reader = XML_READERS[root]
    return getattr(importlib.import_module(module), reader)(path)


def iter_records(path, **options):
    """Yields the ECGs in `path`, choosing the reader from its content or suffix.

    Args:
        path: str or Path. A WFDB record (`.hea`, or the record name without
            suffix), HDF5, XML (GE MUSE, Philips, HL7 aECG: told apart by the
            root element), DICOM ECG waveform or NumPy file.
        **options: passed to the HDF5 and NumPy readers (`fs`, `lead_names`,
            `units`, `layout`); other readers take none.

    Raises:
        ECGReadError: missing file, unknown format, or a whole-file problem.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in WFDB_SUFFIXES or (not path.exists() and path.with_suffix(".hea").exists()):
        yield read_wfdb(path)
    elif not path.exists():
        raise ECGReadError(path, "no such file")
    elif suffix in HDF5_SUFFIXES:
        from pclr_keras.io.hdf5_records import iter_hdf5
        yield from iter_hdf5(path, **options)
    elif suffix in XML_SUFFIXES:
        yield _read_xml(path)
    elif suffix in NUMPY_SUFFIXES:
        from pclr_keras.io.numpy_records import iter_numpy
        yield from iter_numpy(path, **options)
    elif suffix in DICOM_SUFFIXES or is_dicom_file(path):
        from pclr_keras.io.dicom_waveform import read_dicom_waveform
        yield read_dicom_waveform(path)
    elif xml_root_name(path) in XML_READERS:
        yield _read_xml(path)
    else:
        raise ECGReadError(path, f"unknown ECG file type {suffix!r} (expected WFDB .hea, "
                                 "HDF5, XML (GE MUSE, Philips, HL7 aECG), DICOM or NumPy "
                                 ".npy/.npz)")


__all__ = ["ECGReadError", "ECGRecord", "find_ecg_files", "is_ecg_file", "iter_records",
           "read_failure", "read_wfdb", "record_id"]
