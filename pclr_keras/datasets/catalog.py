"""The public data sets this package can fetch: where each lives, how its files are
checked, which of them a request selects, and how its manifest is made."""

import dataclasses
import fnmatch

from pclr_keras.datasets.manifests import challenge_manifest, ludb_manifest, ptbxl_manifest


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


DATASETS = {
    "ptbxl": Dataset(
        title="PTB-XL 1.0.3 (PhysioNet)",
        url="https://physionet.org/files/ptb-xl/1.0.3/",
        include=("ptbxl_database.csv", "scp_statements.csv", "LICENSE.txt", "RECORDS"),
        rates=((100, ("records100/*",)), (500, ("records500/*",))),
        required=("ptbxl_database.csv", "scp_statements.csv"),
        manifest=ptbxl_manifest,
        homepage="https://physionet.org/content/ptb-xl/1.0.3/",
        notes="21,799 ECGs with patient ids; 10 s at 100 Hz (default) or 500 Hz."),
    "ludb": Dataset(
        title="LUDB 1.0.1, Lobachevsky University ECG database (PhysioNet)",
        url="https://physionet.org/files/ludb/1.0.1/",
        include=("ludb.csv", "RECORDS", "LICENSE.txt", "data/*.hea", "data/*.dat"),
        rates=((500, ()),),
        required=("ludb.csv",),
        manifest=ludb_manifest,
        homepage="https://physionet.org/content/ludb/1.0.1/",
        notes="200 ECGs, one per subject, 10 s at 500 Hz; add 'data/*' for the delineations."),
    "challenge2021": Dataset(
        title="PhysioNet/CinC Challenge 2021 training data 1.0.3",
        url="https://physionet.org/files/challenge-2021/1.0.3/",
        include=("LICENSE.txt", "RECORDS", "training/*.hea", "training/*.mat"),
        manifest=challenge_manifest,
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


def get_dataset(name):
    """The registry entry for `name`, or DatasetError listing the known ones."""
    if name not in DATASETS:
        known = "\n".join(f"  {key}: {d.title}" for key, d in DATASETS.items())
        raise DatasetNameError(f"unknown data set {name!r}; known data sets:\n{known}")
    return DATASETS[name]


def describe():
    """One line per registered data set, for listings and help."""
    return "\n".join(f"{key}: {d.title}. {d.notes} {d.homepage}" for key, d in DATASETS.items())


def file_patterns(dataset, name, rate, include):
    """(the rate, the glob patterns of the files to get) for a request of data set `name`.

    `rate` None: the set's default; `include` None: the set's default files at
    that rate. The files the manifest needs are always added.
    """
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


def matches(path, patterns):
    """Whether a listed path is selected: a glob matches it (`*` crosses `/`), or it is
    under a folder a pattern names."""
    return any(fnmatch.fnmatchcase(path, p) or path.startswith(p.rstrip("/") + "/")
               for p in patterns)
