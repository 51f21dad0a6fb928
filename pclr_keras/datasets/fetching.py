"""`fetch`: a data set's selected files downloaded, checked, unzipped, and its manifest.

Each file comes through `pclr_keras.downloads.fetch_file` (a `.part` file,
continued with a Range request, renamed into place once its checksum
matches), several at a time; a file that fails is reported, never kept.
"""

import concurrent.futures
import os
import shutil
import urllib.parse
import zipfile
from pathlib import Path, PurePosixPath

from pclr_keras.datasets.catalog import DatasetError, file_patterns, get_dataset, matches
from pclr_keras.datasets.checksums import checksum_list
from pclr_keras.datasets.manifests import write_manifest
from pclr_keras.weights.downloads import CHUNK_BYTES, DownloadError, fetch_file

# Why a set without a manifest (CODE-15%) cannot be tensorized as fetched, and what to do.
_NO_MANIFEST_ADVICE = (
    "Each CODE-15% HDF5 file holds the exams of many patients while tensorize takes one "
    "patient id per input file: fetch without tensorize_out, run `pclr tensorize` on the "
    ".hdf5 files, and join labels.csv's ecg_id (the exam_id) with exams.csv's patient_id.")

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


def _manifest_and_tensors(dataset, folder, rate, summary, tensorize_out, tensorize_workers,
                          progress):
    """Writes `manifest.csv` and, if asked and nothing failed, tensorizes it."""
    manifest, table = write_manifest(dataset, folder, rate)
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
        raise DatasetError(f"{name}: no manifest to tensorize from. {_NO_MANIFEST_ADVICE}")
    rate, patterns = file_patterns(dataset, name, rate, include)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    base = (base_url or dataset.url).rstrip("/") + "/"
    checksums_url, listed = checksum_list(dataset, name, base, folder, timeout)
    selected = _select(dataset, name, listed, patterns, checksums_url)
    summary = dict(dataset=name, folder=str(folder), checksums_url=checksums_url,
                   listed=len(listed), selected=len(selected), downloaded=0, present=0,
                   resumed=0, bytes_downloaded=0, extracted=0, failures=[], manifest=None,
                   manifest_rows=0, patients=0, tensorize=None)
    _download(selected, listed, base, folder, summary, name=name, workers=workers,
              retries=retries, timeout=timeout, progress=progress)
    if dataset.extract:
        _extract_archives(selected, base, folder, summary)
    if dataset.manifest is not None:
        _manifest_and_tensors(dataset, folder, rate, summary, tensorize_out,
                              tensorize_workers, progress)
    return summary


def _select(dataset, name, listed, patterns, checksums_url):
    """The listed files `patterns` select, sorted; a DatasetError if the list lacks a
    file the manifest needs."""
    selected = sorted(p for p in listed if matches(p, patterns))
    missing_required = [p for p in dataset.required if p not in listed]
    if missing_required:
        raise DatasetError(f"{name}: {checksums_url} does not list {missing_required}, "
                           "which the manifest needs")
    return selected
