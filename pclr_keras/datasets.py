"""Public ECG data sets: download with resume and checksums, then a manifest for tensorize.

`fetch("ptbxl", root)` reads the data set's own checksum list first
(PhysioNet's `SHA256SUMS.txt`; for Zenodo records, the md5s of the record's
API entry), selects the files to get, and downloads each into
`root/<name>/<path>` through a `<path>.part` file: an existing `.part` is
continued with an HTTP `Range` request, and the file is renamed into place
only once its checksum matches. A file already in place with the right
checksum is not fetched again, so a killed run resumes where it stopped; a
file that does not match is deleted and fetched again once, then reported,
never kept. Then a manifest for `pclr tensorize` is written from the data
set's metadata (PTB-XL: patient ids, age, sex, folds, SCP codes and their
diagnostic superclasses) and, if asked, the ECGs are tensorized.

Only the standard library does the downloading; pandas builds the manifests.
Nothing here imports TensorFlow.
"""

import ast
import concurrent.futures
import dataclasses
import fnmatch
import hashlib
import http.client
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import zipfile
from pathlib import Path, PurePosixPath

from pclr_keras.downloads import CHUNK_BYTES, DownloadError, fetch_file, open_url
_SHA256_LINE = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$")


class DatasetError(Exception):
    """A data set cannot be fetched at all: unknown name, checksum list missing, network down."""


class DatasetNameError(DatasetError):
    """The request names no data set (or no rate of it) this package knows: a usage error."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Where a data set lives and how to check, select and index its files.

    Attributes:
        title: str. Human name.
        url: str. Base URL; the checksum list's paths are relative to it.
        checksums: str. The checksum list, relative to `url` (a leading `/`
            is relative to the server root, as for Zenodo's API).
        checksum_format: "sha256sums" (`<sha256> <path>` lines) or "zenodo"
            (a Zenodo record's JSON, whose `files` carry `md5:` checksums).
        include: tuple of glob patterns: the files fetched by default.
        rates: tuple of (rate, patterns): files added for each sampling
            rate; the first is the default.
        required: files the manifest needs, always fetched.
        manifest: callable(folder, rate) -> pandas DataFrame with a `path`
            and a `patient_id` column, or None.
        extract: bool. Unzip `.zip` files (after checking them) beside them.
        homepage, notes: str. Shown in listings and errors.
    """

    title: str
    url: str
    checksums: str = "SHA256SUMS.txt"
    checksum_format: str = "sha256sums"
    include: tuple = ("*",)
    rates: tuple = ()
    required: tuple = ()
    manifest: object = None
    extract: bool = False
    homepage: str = ""
    notes: str = ""


# --------------------------------------------------------------------------- manifests

def _ptbxl_manifest(folder, rate):
    """PTB-XL: one row per record at `rate` whose files are here.

    `diagnostic_superclass` is the sorted, `;`-joined set of the
    `diagnostic_class` of every code in `scp_codes` that `scp_statements.csv`
    marks `diagnostic == 1`, at any likelihood (upstream's
    `example_physionet.py` rule).
    """
    import pandas as pd

    database = pd.read_csv(folder / "ptbxl_database.csv")
    statements = pd.read_csv(folder / "scp_statements.csv", index_col=0)
    diagnostic = statements[statements["diagnostic"] == 1]["diagnostic_class"].dropna().to_dict()

    def superclass(codes):
        return ";".join(sorted({diagnostic[c] for c in ast.literal_eval(codes) if c in diagnostic}))

    column = "filename_hr" if rate == 500 else "filename_lr"
    present = database[column].map(
        lambda p: (folder / f"{p}.hea").is_file() and (folder / f"{p}.dat").is_file())
    rows = database[present]
    return pd.DataFrame({
        "path": rows[column],
        "ecg_id": rows["ecg_id"].astype(int),
        "patient_id": rows["patient_id"].map(lambda v: "" if pd.isna(v) else str(int(v))),
        "age": rows["age"],
        "sex": rows["sex"],
        "recording_date": rows["recording_date"],
        "strat_fold": rows["strat_fold"],
        "scp_codes": rows["scp_codes"],
        "diagnostic_superclass": rows["scp_codes"].map(superclass),
    })


def _ludb_manifest(folder, rate):
    """LUDB: one subject per record, so the record number is the patient id."""
    import pandas as pd

    table = pd.read_csv(folder / "ludb.csv", dtype=str)
    table = table.apply(lambda c: c.str.strip().str.replace(r"\s*\n\s*", "; ", regex=True))
    present = table["ID"].map(lambda i: (folder / "data" / f"{i}.hea").is_file()
                              and (folder / "data" / f"{i}.dat").is_file())
    table = table[present]
    table.insert(0, "patient_id", table["ID"])
    table.insert(0, "path", "data/" + table["ID"])
    return table.reset_index(drop=True)


def _challenge_manifest(folder, rate):
    """PhysioNet/CinC 2021: every record here; the set gives no patient ids.

    Age, sex and the SNOMED-CT `dx` codes are in each header, which
    tensorize reads into the labels itself.
    """
    import pandas as pd

    rows = []
    for header in sorted((folder / "training").rglob("*.hea")):
        if header.with_suffix(".mat").is_file() or header.with_suffix(".dat").is_file():
            relative = header.relative_to(folder).with_suffix("").as_posix()
            rows.append({"path": relative, "patient_id": "",
                         "database": relative.split("/")[1]})
    return pd.DataFrame(rows, columns=["path", "patient_id", "database"])


DATASETS = {
    "ptbxl": Dataset(
        title="PTB-XL 1.0.3 (PhysioNet)",
        url="https://physionet.org/files/ptb-xl/1.0.3/",
        include=("ptbxl_database.csv", "scp_statements.csv", "LICENSE.txt", "RECORDS"),
        rates=((100, ("records100/*",)), (500, ("records500/*",))),
        required=("ptbxl_database.csv", "scp_statements.csv"),
        manifest=_ptbxl_manifest,
        homepage="https://physionet.org/content/ptb-xl/1.0.3/",
        notes="21,799 ECGs with patient ids; 10 s at 100 Hz (default) or 500 Hz."),
    "ludb": Dataset(
        title="LUDB 1.0.1, Lobachevsky University ECG database (PhysioNet)",
        url="https://physionet.org/files/ludb/1.0.1/",
        include=("ludb.csv", "RECORDS", "LICENSE.txt", "data/*.hea", "data/*.dat"),
        rates=((500, ()),),
        required=("ludb.csv",),
        manifest=_ludb_manifest,
        homepage="https://physionet.org/content/ludb/1.0.1/",
        notes="200 ECGs, one per subject, 10 s at 500 Hz; add 'data/*' for the delineations."),
    "challenge2021": Dataset(
        title="PhysioNet/CinC Challenge 2021 training data 1.0.3",
        url="https://physionet.org/files/challenge-2021/1.0.3/",
        include=("LICENSE.txt", "RECORDS", "training/*.hea", "training/*.mat"),
        manifest=_challenge_manifest,
        homepage="https://physionet.org/content/challenge-2021/1.0.3/",
        notes="12-lead ECGs from several databases (no patient ids); "
              "e.g. include=['training/georgia/*'] for one of them."),
    "code15": Dataset(
        title="CODE-15% (Zenodo record 4916206)",
        url="https://zenodo.org/records/4916206/files/",
        checksums="/api/records/4916206",
        checksum_format="zenodo",
        include=("exams.csv", "exams_part*.zip"),
        extract=True,
        homepage="https://zenodo.org/records/4916206",
        notes="exams in 18 zipped HDF5 files (md5-checked, "
              "unzipped); exams.csv maps exam_id to patient_id."),
}


# --------------------------------------------------------------------------- checksums

def _read_checksum_list(url, timeout, what):
    try:
        with open_url(url, timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise DatasetError(f"{what}: checksum list {url} could not be fetched: HTTP "
                           f"{error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DatasetError(f"{what}: network failure fetching {url}: {reason}") from error


def parse_sha256sums(text):
    """`<sha256> [*]<path>` lines -> {path: ("sha256", hex)}."""
    checksums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _SHA256_LINE.match(line)
        if not match:
            raise DatasetError(f"line {number} of the checksum list is not "
                               f"'<sha256> <path>': {line[:120]!r}")
        checksums[match.group(2)] = ("sha256", match.group(1).lower())
    return checksums


def parse_zenodo_record(text):
    """A Zenodo record's JSON -> {file key: (algorithm, hex)} from its `md5:...` checksums."""
    record = json.loads(text)
    files = record.get("files", [])
    if isinstance(files, dict):  # InvenioRDM form: {"entries": {key: {...}}}
        files = list(files.get("entries", {}).values())
    checksums = {}
    for entry in files:
        algorithm, _, digest = str(entry.get("checksum", "")).partition(":")
        key = entry.get("key") or entry.get("filename")
        if key and digest and algorithm in hashlib.algorithms_guaranteed:
            checksums[key] = (algorithm, digest.lower())
    return checksums


# --------------------------------------------------------------------------- downloads

def _local_path(folder, relative):
    """`folder/relative`, refusing absolute paths and `..` (the list comes from a server)."""
    parts = PurePosixPath(relative).parts
    if (not parts or relative.startswith("/") or "\\" in relative
            or any(p in ("", ".", "..") for p in parts)):
        raise DownloadError(f"unsafe path {relative!r} in the checksum list, not written")
    return folder.joinpath(*parts)


def _extract(archive, folder):
    """Unzips `archive` beside it; a member already in place with its size is left alone."""
    written = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            target = _local_path(folder, info.filename)
            if target.is_file() and target.stat().st_size == info.file_size:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".extracting")
            with zf.open(info) as source, open(tmp, "wb") as sink:
                shutil.copyfileobj(source, sink, CHUNK_BYTES)
            os.replace(tmp, target)
            written += 1
    return written


# --------------------------------------------------------------------------- selection

def _matches(path, patterns):
    return any(fnmatch.fnmatchcase(path, p) or path.startswith(p.rstrip("/") + "/")
               for p in patterns)


def _patterns(dataset, name, rate, include):
    rates = dict(dataset.rates)
    if rate is None:
        rate = dataset.rates[0][0] if dataset.rates else None
    elif rate not in rates:
        known = ", ".join(str(r) for r in rates) or "none (the set has one layout)"
        raise DatasetNameError(f"{name}: no rate {rate!r}; rates: {known}")
    if include is None:
        patterns = tuple(dataset.include) + tuple(rates.get(rate, ()))
    else:
        patterns = (include,) if isinstance(include, str) else tuple(include)
    return rate, patterns + tuple(dataset.required)


def get_dataset(name):
    """The registry entry for `name`, or DatasetError listing the known ones."""
    if name not in DATASETS:
        known = "\n".join(f"  {key}: {d.title}" for key, d in DATASETS.items())
        raise DatasetNameError(f"unknown data set {name!r}; known data sets:\n{known}")
    return DATASETS[name]


def _checksum_list(dataset, name, base, folder, timeout):
    """(its URL, path -> checksum) of the data set's checksum list; a sha256sums
    list is kept beside the files."""
    checksums_url = urllib.parse.urljoin(base, dataset.checksums)
    raw = _read_checksum_list(checksums_url, timeout, name)
    try:
        text = raw.decode("utf-8")
        listed = (parse_zenodo_record(text) if dataset.checksum_format == "zenodo"
                  else parse_sha256sums(text))
    except (UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{name}: {checksums_url} is not a checksum list ({error})") from error
    except DatasetError as error:
        raise DatasetError(f"{name}: {checksums_url}: {error}") from error
    if not listed:
        raise DatasetError(f"{name}: {checksums_url} lists no files")
    if dataset.checksum_format == "sha256sums":
        local_list = folder / Path(dataset.checksums).name
        tmp = local_list.with_name(local_list.name + ".tmp")
        tmp.write_bytes(raw)
        os.replace(tmp, local_list)
    return checksums_url, listed


def _download(selected, listed, base, folder, summary, *, name, workers, retries, timeout,
              progress):
    """Fetches the selected files in parallel; counts and failures go into `summary`."""
    from tqdm import tqdm

    def one(path):
        url = base + urllib.parse.quote(path)
        try:
            result = fetch_file(url, _local_path(folder, path), listed[path],
                                retries=retries, timeout=timeout)
        except DownloadError as error:
            return path, url, None, str(error)
        return path, url, result, None

    with tqdm(total=len(selected), unit="file", desc=f"fetching {name}",
              disable=not progress) as bar:
        with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
            for path, url, result, error in pool.map(one, selected):
                if error is not None:
                    summary["failures"].append({"path": path, "url": url, "error": error})
                else:
                    summary["downloaded" if result["status"] == "downloaded" else "present"] += 1
                    summary["resumed"] += int(result["resumed"])
                    summary["bytes_downloaded"] += result["bytes"]
                bar.update(1)


def _extract_archives(selected, base, folder, summary):
    """Unzips the selected archives that arrived; a bad one is a failure in `summary`."""
    failed = {f["path"] for f in summary["failures"]}
    for path in selected:
        if path.endswith(".zip") and path not in failed:
            archive = _local_path(folder, path)
            try:
                summary["extracted"] += _extract(archive, archive.parent)
            except (zipfile.BadZipFile, OSError, DownloadError) as error:
                summary["failures"].append({"path": path, "url": base + path,
                                            "error": f"cannot unzip: {error}"})


def _write_manifest(dataset, folder, rate, summary, tensorize_out, tensorize_workers, progress):
    """Writes `manifest.csv` and, if asked and nothing failed, tensorizes it."""
    table = dataset.manifest(folder, rate)
    manifest = folder / "manifest.csv"
    tmp = manifest.with_name(".manifest.csv.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, manifest)
    patients = table["patient_id"].astype(str)
    summary.update(manifest=str(manifest), manifest_rows=len(table),
                   patients=int(patients[patients != ""].nunique()))
    if tensorize_out is not None and summary["failures"]:
        summary["tensorize_skipped"] = (f"{len(summary['failures'])} file(s) failed; "
                                        "run again to complete the download first")
    elif tensorize_out is not None:
        from pclr_keras.tensorize import read_manifest, tensorize

        inputs, excluded = read_manifest(manifest)
        summary["tensorize"] = tensorize(inputs, tensorize_out, planned_errors=excluded,
                                         workers=tensorize_workers, progress=progress)


def fetch(name, root, *, rate=None, include=None, base_url=None, workers=4, retries=1,
          timeout=60.0, progress=True, tensorize_out=None, tensorize_workers=None):
    """Downloads a public data set, checked, and writes its manifest for tensorize.

    Args:
        name: str. A key of `DATASETS` ("ptbxl", "ludb", "challenge2021", "code15").
        root: str or Path. Files go to `root/<name>/<path as on the server>`.
        rate: int or None. Sampling rate where a set has several (PTB-XL:
            100, the default, or 500): which records are fetched by default
            and which the manifest lists.
        include: str or list of glob patterns over the paths in the checksum
            list (`*` crosses `/`; a folder name takes what is under it), in
            place of the default selection; the files the manifest needs are
            always added.
        base_url: str or None. Another server with the same layout (a mirror,
            a test server) in place of the registry's URL.
        workers: int. Parallel downloads.
        retries: int. Further attempts per file after a failed transfer or a
            checksum mismatch (4xx answers are not retried).
        timeout: float. Seconds a connection may stay silent.
        progress: bool. Show a progress bar over files.
        tensorize_out: str, Path or None. If given, and every file arrived,
            tensorize the manifest's ECGs there (`pclr_keras.tensorize`).
        tensorize_workers: int or None. Processes for tensorize.

    Returns:
        A summary dict: `folder`, `checksums_url`, `listed` (files in the
        checksum list), `selected`, `downloaded`, `present` (already there
        and checked), `resumed`, `bytes_downloaded`, `extracted`, `failures`
        (a list of `{"path", "url", "error"}`; a failed file is never left in
        place), `manifest` (path or None), `manifest_rows`, `patients`, and
        `tensorize` (tensorize's summary, or None; with failures it is not
        run and `tensorize_skipped` says why).

    Raises:
        DatasetError: unknown data set or rate, the checksum list missing or
            unreadable, the network unreachable, or tensorize_out asked of a
            set without a manifest.
    """
    dataset = get_dataset(name)
    if tensorize_out is not None and dataset.manifest is None:
        raise DatasetError(
            f"{name}: no manifest to tensorize from. Each CODE-15% HDF5 file holds the exams of "
            "many patients while tensorize takes one patient id per input file: fetch without "
            "tensorize_out, run `pclr tensorize` on the .hdf5 files, and join labels.csv's "
            "ecg_id (the exam_id) with exams.csv's patient_id.")
    rate, patterns = _patterns(dataset, name, rate, include)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    base = (base_url or dataset.url).rstrip("/") + "/"
    checksums_url, listed = _checksum_list(dataset, name, base, folder, timeout)

    selected = sorted(p for p in listed if _matches(p, patterns))
    missing_required = [p for p in dataset.required if p not in listed]
    if missing_required:
        raise DatasetError(f"{name}: {checksums_url} does not list {missing_required}, "
                           "which the manifest needs")
    summary = dict(dataset=name, folder=str(folder), checksums_url=checksums_url,
                   listed=len(listed), selected=len(selected), downloaded=0, present=0,
                   resumed=0, bytes_downloaded=0, extracted=0, failures=[], manifest=None,
                   manifest_rows=0, patients=0, tensorize=None)

    _download(selected, listed, base, folder, summary, name=name, workers=workers,
              retries=retries, timeout=timeout, progress=progress)
    if dataset.extract:
        _extract_archives(selected, base, folder, summary)
    if dataset.manifest is not None:
        _write_manifest(dataset, folder, rate, summary, tensorize_out, tensorize_workers,
                        progress)
    return summary


def describe():
    """One line per registered data set, for listings and help."""
    return "\n".join(f"{key}: {d.title}. {d.notes} {d.homepage}" for key, d in DATASETS.items())
