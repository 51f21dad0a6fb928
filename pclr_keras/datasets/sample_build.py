"""Builds the PTB-XL sample that a wheel carries, from a PTB-XL folder beside the source.

Real ECGs are never committed to the repository: `setup.py`'s build step
calls `build_sample` on the PTB-XL folder of `../shared/data` (or the one
`PCLR_SAMPLE_SOURCE` names) and writes the result into the build directory
only. The sample is a few hundred of PTB-XL's 100 Hz records, chosen by a
fixed rule, in one xz-compressed tar archive whose bytes depend on nothing
but the source: the record files unchanged, a manifest of the columns the
demo needs, PTB-XL's licence and an attribution that states the changes.

Standard library only: the build runs in an isolated environment that has
neither numpy nor pandas, and `setup.py` loads this file by its path.
"""

import csv
import hashlib
import io
import lzma
import os
import sys
import tarfile
from array import array
from collections import defaultdict
from pathlib import Path

ARCHIVE = "ptbxl-sample.tar.xz"
ATTRIBUTION = "ATTRIBUTION.md"
PACKAGE_FOLDER = "ptbxl_sample"  # inside pclr_keras/datasets/ of the built package
SOURCE_VARIABLE = "PCLR_SAMPLE_SOURCE"
ECGS_PER_FOLD = 40
MANIFEST_COLUMNS = ("path", "ecg_id", "patient_id", "age", "sex", "strat_fold",
                    "diagnostic_superclass")
LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
SAMPLES = 1000  # 10 s at 100 Hz
# Delta over one 12-lead sample frame (24 bytes) before LZMA: about 15 % smaller.
_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": 2 * len(LEADS)},
            {"id": lzma.FILTER_LZMA2, "preset": 9}]


class SampleSourceError(ValueError):
    """The PTB-XL folder cannot give the sample; the message names the file."""


def find_source(repository):
    """The PTB-XL folder to build from: `PCLR_SAMPLE_SOURCE`, else `../shared/data/ptbxl`
    beside `repository` if it is there, else None (a wheel without the sample)."""
    named = os.environ.get(SOURCE_VARIABLE)
    if named:
        return Path(named)
    shared = Path(repository).resolve().parent / "shared" / "data" / "ptbxl"
    return shared if (shared / "manifest.csv").is_file() else None


def select_records(rows, per_fold=ECGS_PER_FOLD):
    """The sample's manifest rows, sorted by `ecg_id`.

    Rows PTB-XL 1.0.3 dropped as duplicates (`in_v1_0_3` False) never enter.
    In each of the ten folds, patients are taken whole in the order of the
    SHA-256 of their id, skipping any whose ECGs would overflow the fold's
    `per_fold`, so repeat-ECG patients come in the share the source has and
    every fold, 9 and 10 included, holds `per_fold` ECGs.
    """
    patients = defaultdict(list)
    for row in rows:
        if row["in_v1_0_3"] == "True":
            patients[(int(row["strat_fold"]), row["patient_id"])].append(row)
    chosen = []
    for fold in range(1, 11):
        room = per_fold
        in_fold = sorted((p for f, p in patients if f == fold), key=_patient_order)
        for patient in in_fold:
            ecgs = patients[(fold, patient)]
            if len(ecgs) <= room:
                chosen.extend(ecgs)
                room -= len(ecgs)
        if room:
            raise SampleSourceError(f"fold {fold} has too few ECGs for {per_fold}")
    return sorted(chosen, key=lambda row: int(row["ecg_id"]))


def _patient_order(patient_id):
    return hashlib.sha256(patient_id.encode()).hexdigest()


def read_source(folder):
    """`manifest.csv` rows of a `../shared/data/ptbxl`-style folder (paths as `path_lr`,
    relative to the folder's parent; `in_v1_0_3` marks PTB-XL 1.0.3's duplicates)."""
    manifest = Path(folder) / "manifest.csv"
    if not manifest.is_file():
        raise SampleSourceError(f"{manifest}: not found; {SOURCE_VARIABLE} must name the "
                                "PTB-XL folder of ../shared/data (with its manifest.csv)")
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    needed = {"path_lr", "in_v1_0_3", *MANIFEST_COLUMNS} - {"path"}
    missing = sorted(needed - set(rows[0] if rows else ()))
    if missing:
        raise SampleSourceError(f"{manifest}: no column {', '.join(missing)}")
    return rows


def read_record_files(folder, relative):
    """The `.hea` and `.dat` bytes of one record, checked to be PTB-XL's 100 Hz layout
    (12 leads, 16-bit, 1000 samples) with the checksums its header gives."""
    base = Path(folder).parent / relative
    try:
        header = base.with_suffix(".hea").read_bytes()
        signal = base.with_suffix(".dat").read_bytes()
    except OSError as error:
        raise SampleSourceError(f"{base}: {error.strerror or error}") from None
    lines = header.decode("ascii").split("\n")
    if lines[0].split()[1:4] != [str(len(LEADS)), "100", str(SAMPLES)]:
        raise SampleSourceError(f"{base}.hea: not a 12-lead, 100 Hz, 10 s record: {lines[0]!r}")
    samples = array("h", signal)
    if len(signal) != 2 * len(LEADS) * SAMPLES:
        raise SampleSourceError(f"{base}.dat: {len(signal)} bytes, expected "
                                f"{2 * len(LEADS) * SAMPLES}")
    if sys.byteorder == "big":
        samples.byteswap()
    for lead, line in enumerate(lines[1:1 + len(LEADS)]):
        fields = line.split()
        expected = int(fields[6]) & 0xFFFF
        if fields[1:3] != ["16", "1000.0(0)/mV"] or fields[-1] != LEADS[lead] or \
                sum(samples[lead::len(LEADS)]) & 0xFFFF != expected:
            raise SampleSourceError(f"{base}: lead {lead + 1} does not match its header")
    return header, signal


def build_sample(source, out_dir, per_fold=ECGS_PER_FOLD):
    """Writes `ARCHIVE` and `ATTRIBUTION` into `out_dir`; returns the archive's path.

    Args:
        source: str or Path. A `../shared/data/ptbxl`-style PTB-XL folder.
        out_dir: str or Path. Created if needed; in a build, the built package's folder.
        per_fold: int. ECGs taken from each of the ten folds.
    """
    source, out_dir = Path(source), Path(out_dir)
    available = read_source(source)
    rows = select_records(available, per_fold)
    members, table = [], []
    for row in rows:
        relative = Path(row["path_lr"])
        inside = relative.relative_to(relative.parts[0]).as_posix()  # drop the "ptbxl/"
        header, signal = read_record_files(source, relative)
        members += [(f"{inside}.hea", header), (f"{inside}.dat", signal)]
        table.append({"path": inside, **{c: row[c] for c in MANIFEST_COLUMNS[1:]}})
    attribution = attribution_text(table, len(available), per_fold).encode()
    members += [("manifest.csv", _csv_bytes(table)), (ATTRIBUTION, attribution)]
    licence = source / "LICENSE.txt"
    if licence.is_file():
        members.append(("LICENSE.txt", licence.read_bytes()))
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / ARCHIVE
    archive.write_bytes(lzma.compress(_tar_bytes(members), format=lzma.FORMAT_XZ,
                                      filters=_FILTERS))
    (out_dir / ATTRIBUTION).write_bytes(attribution)
    return archive


def _csv_bytes(table):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return text.getvalue().encode()


def _tar_bytes(members):
    """An uncompressed tar whose bytes depend only on the members (no times, owners)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(payload), 0o644, 0
            tar.addfile(info, io.BytesIO(payload))
    return raw.getvalue()


def attribution_text(table, source_records, per_fold):
    """The sample's attribution and statement of changes (CC BY 4.0, section 3(a))."""
    patients = defaultdict(int)
    for row in table:
        patients[row["patient_id"]] += 1
    repeat = sum(1 for n in patients.values() if n >= 2)
    return f"""# PTB-XL sample packaged with pclr-keras

{len(table)} ECGs of {len(patients)} patients ({repeat} with two or more ECGs) from
PTB-XL, a large publicly available electrocardiography dataset:

Wagner, P., Strodthoff, N., Bousseljot, R.-D., Kreiseler, D., Lunze, F. I.,
Samek, W., Schaeffter, T. (2020). PTB-XL, a large publicly available
electrocardiography dataset. Scientific Data 7, 154.
https://doi.org/10.1038/s41597-020-0495-6

PhysioNet: https://physionet.org/content/ptb-xl/ (version 1.0.1, DOI
10.13026/x4td-x982; version 1.0.3, DOI 10.13026/kfzx-aw45).

Licence: Creative Commons Attribution 4.0 International (CC BY 4.0),
https://creativecommons.org/licenses/by/4.0/ (text in LICENSE.txt where the
source folder carried it). The licensors do not endorse pclr-keras or its use
of the data.

## Changes made

- Selection: {len(table)} of PTB-XL's 21,837 ECGs at 100 Hz ({per_fold} from each
  of the ten `strat_fold`s), taken from a PTB-XL folder of {source_records:,} records;
  `manifest.csv` lists their `ecg_id`s. In each fold, patients are taken
  whole, in the order of the SHA-256 of their `patient_id`.
- The ECGs that PTB-XL 1.0.3 removed as duplicates are left out.
- The record files (`records100/.../NNNNN_lr.hea`, `.dat`: WFDB format 16,
  1000 units per mV) are PTB-XL's, unchanged; pclr-keras stores them in a
  compressed archive and writes them back byte for byte.
- Metadata: only `ecg_id`, `patient_id`, `age`, `sex`, `strat_fold` and
  `diagnostic_superclass` are kept, the last derived from `scp_codes` and
  `scp_statements.csv` (the diagnostic classes of the codes marked
  diagnostic, at any likelihood). Reports, dates, and every other column are
  left out.
"""
