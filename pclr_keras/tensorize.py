"""ECG files -> sharded HDF5 tensors, a labels table and a patient index.

Every input ends in exactly one place: a row of a shard (listed in
`labels.csv` and `index.csv`) or a line of `errors.csv` saying why. Inputs
are split into shards in a fixed order, and each shard is one HDF5 file
written under a temporary name and renamed when complete, with a digest of
its inputs and settings; a re-run skips the shards that are complete, so a
killed job resumes and ends with the same output as an uninterrupted one.
The shard files themselves (written whole, read back, rewritten without
duplicates) are `pclr_keras.shards`; this module owns the folder's layout,
plans and fills its shards, and makes its tables. Nothing here imports
TensorFlow: worker processes stay light.
"""

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pclr_keras import __version__
from pclr_keras.atomic import replacing, write_errors, write_json
from pclr_keras.deidentify import IdentifierPolicy, IdentifierSummary
from pclr_keras.ingest import list_inputs, read_ecgs, window_id
from pclr_keras.preprocess import TOLERATED_FLAT_LEADS
from pclr_keras.shards import drop_rows, is_complete, read_rows, write_shard
from pclr_keras.variants import STANDARD_LEADS, get_variant, parse_lead_set

# The layout of a tensorized folder; every module that reads one asks here.
LABELS_FILE = "labels.csv"
INDEX_FILE = "index.csv"
SHARDS_FOLDER = "shards"
SHARD_PATTERN = "shard-{:05d}.h5"
REQUIRED_FILES = (LABELS_FILE, INDEX_FILE, SHARDS_FOLDER)
# Columns tensorize writes itself; a manifest's `ecg_id` becomes the ECG's id.
RESERVED_COLUMNS = ("ecg_id", "patient_id", "shard", "row", "source", "window",
                    "fs_original", "n_samples_original", "quality", "leads")


@dataclasses.dataclass(frozen=True)
class TensorizeInput:
    """One file to read, with what the manifest says about it."""

    path: str
    patient_id: str = ""
    labels: tuple = ()  # (column, value) pairs, hashable and ordered
    root: str = ""  # the data root ids are relative to: the folder given, or the manifest's


@dataclasses.dataclass(frozen=True)
class TensorizeSettings:
    """What decides a shard's content; part of every shard's digest (`basis`).

    `identifiers` ("remove", "pseudonymize", "keep"; default "pseudonymize"
    with a `key_file`, else "remove") and `patient_id_field` make the
    `IdentifierPolicy` (`policy`) every output follows; the key is read once
    here and enters digests only as a hash. `leads_present` (a set name or
    leads, `--leads`) makes reduced-lead input: only those leads are read,
    the others zero; naming every lead the variants read is the same as
    naming none, and is digested as none.
    """

    variants: tuple = ("pclr",)
    windows: str = "first"
    patient_id_field: str = ""
    reader_options: tuple = ()
    max_flat_leads: int = TOLERATED_FLAT_LEADS  # 0: any flat lead rejects (--strict)
    identifiers: str = None
    key_file: str = None
    leads_present: tuple = ()

    def __post_init__(self):
        read = {lead for variant in self.variants for lead in get_variant(variant).leads}
        present = parse_lead_set(self.leads_present) if self.leads_present else ()
        object.__setattr__(self, "leads_present", () if read <= set(present) else present)
        if self.windows not in ("first", "all"):
            raise ValueError("windows must be 'first' or 'all'.")
        object.__setattr__(self, "policy", IdentifierPolicy.of(
            self.identifiers, self.key_file, self.patient_id_field))

    def basis(self):
        """The settings as digested: the policy's basis in place of the key file."""
        fields = dataclasses.asdict(self)
        del fields["key_file"]
        fields["identifiers"] = self.policy.basis()
        if not self.leads_present:  # the digests of jobs before `--leads` stay as they were
            del fields["leads_present"]
        return fields

    @property
    def leads(self):
        """The `leads` column: the leads every ECG held, e.g. "I" or "I,II,...,V6"."""
        read = {lead for variant in self.variants for lead in get_variant(variant).leads}
        return ",".join(self.leads_present or [lead for lead in STANDARD_LEADS if lead in read])


def shard_path(folder, shard):
    """Where shard number `shard` of a tensorized folder is."""
    return Path(folder) / SHARDS_FOLDER / SHARD_PATTERN.format(int(shard))


def is_tensorized_folder(path):
    """Whether `path` is a `pclr tensorize` output folder (labels.csv + shards/)."""
    path = Path(path)
    return (path / LABELS_FILE).is_file() and (path / SHARDS_FOLDER).is_dir()


def find_inputs(sources):
    """Files and folders -> sorted ECG files (folders are walked), each with its data root."""
    return [TensorizeInput(str(path), root=root) for path, root in list_inputs(sources)]


def read_manifest(manifest, path_column="path", patient_column="patient_id",
                  path_root=None, drop_if=None):
    """A CSV with a path per row -> inputs, and the rows `drop_if` excludes.

    Args:
        manifest: str or Path. CSV file; every column other than the path and
            the patient id is kept as a label.
        path_column, patient_column: str. Column names.
        path_root: folder the paths are relative to (default: the CSV's).
        drop_if: str or None. A pandas query; matching rows are not read and
            are reported as `excluded` (e.g. `"in_v1_0_3 == False"`).

    Returns:
        `(inputs, excluded)`: list of `TensorizeInput`, list of error rows.
    """
    table = pd.read_csv(manifest, dtype={patient_column: str})
    if path_column not in table:
        raise ValueError(f"{manifest}: no column {path_column!r} (columns: {list(table)}).")
    root = Path(path_root) if path_root else Path(manifest).parent
    excluded = []
    if drop_if:
        dropped = table.query(drop_if)
        excluded = [(str(p), "excluded", f"manifest row matches {drop_if!r}")
                    for p in dropped[path_column]]
        table = table.drop(dropped.index)
    label_columns = [c for c in table if c not in (path_column, patient_column)]
    inputs = []
    for row in table.itertuples(index=False):
        row = row._asdict()
        patient = row.get(patient_column)
        inputs.append(TensorizeInput(
            str(root / row[path_column]),
            "" if pd.isna(patient) else str(patient),
            tuple((c, _plain(row[c])) for c in label_columns), str(root)))
    return inputs, excluded


def _plain(value):
    """A manifest cell as a JSON-friendly Python value."""
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _digest(payload):
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _file_meta(meta):
    """A reader's metadata as label columns; its own ECG id keeps a distinct name."""
    return [("file_ecg_id" if key == "ecg_id" else key, value) for key, value in meta.items()
            if key != "median_beats"]


def read_item(item, settings, identifiers=None):
    """Reads one input into shard rows; returns (rows, errors). Never raises for bad data.

    Ids, patient ids, labels and errors come as `settings.policy` lets them
    out; `identifiers` (an `IdentifierSummary`), if given, counts what it left out.
    """
    rows, errors = [], []
    for ecg in read_ecgs(item.path, settings.variants, windows=settings.windows,
                         reader_options=settings.reader_options,
                         max_flat_leads=settings.max_flat_leads,
                         ecg_id=dict(item.labels).get("ecg_id"), policy=settings.policy,
                         data_root=item.root or None, patient_id=item.patient_id,
                         leads_present=settings.leads_present or None):
        errors += ecg.errors
        if identifiers is not None:
            identifiers.merge(ecg.identifiers)
        labels = {k: v for k, v in [*_file_meta(ecg.meta), *item.labels]
                  if k not in RESERVED_COLUMNS}
        rows += [dict(ecg_id=window_id(ecg.ecg_id, window.index), patient_id=ecg.patient_id,
                      source=ecg.source, window=window.index, fs_original=ecg.fs,
                      n_samples_original=ecg.n_samples, quality=window.quality,
                      labels=labels, tensors=window.tensors)
                 for window in ecg.windows]
    return rows, errors


def process_shard(path, digest, inputs, settings, read=None):
    """Worker: reads and preprocesses one shard's inputs and writes the shard.

    `read(item, settings, identifiers) -> (rows, errors)` reads one input
    (default: from a local path; Beam passes one that stages remote files first).
    """
    rows, errors = [], []
    identifiers = IdentifierSummary(settings.policy.mode)
    for item in inputs:
        item_rows, item_errors = (read or read_item)(item, settings, identifiers)
        rows += item_rows
        errors += item_errors
    write_shard(Path(path), digest, rows, errors, settings.variants, identifiers)
    return len(inputs)


def _write_csv(frame, path):
    with replacing(path) as tmp:
        frame.to_csv(tmp, index=False)


def _merge(out_dir, shard_paths, planned_errors, bases, identifiers="remove", leads=""):
    """Shards -> labels.csv, index.csv, errors.csv, summary.json.

    A row whose signal or ecg_id an earlier row already has is a duplicate:
    it is reported and removed from its shard, so the shards hold exactly
    the rows of `labels.csv`; each row's `leads` are the job's.
    """
    rows, errors = [], list(planned_errors)
    seen, seen_ids = {}, set()  # signal digest -> first ecg_id; ecg_ids kept
    ecgs_found = len(planned_errors)
    left_out = IdentifierSummary(identifiers)
    for shard, path in enumerate(shard_paths):
        found = read_rows(path)
        left_out.merge(IdentifierSummary.from_dict(found.identifiers))
        errors += found.errors
        ecgs_found += len(found.errors) + len(found.labels)
        keep, dropped = _first_occurrences(shard, found, seen, seen_ids, rows)
        if dropped:
            drop_rows(path, keep, dropped, bases[shard])
            errors += dropped
    if not rows:  # nothing produced: no empty tables or shards that pass for a dataset
        shard_paths = _without_tables(out_dir, shard_paths)
    table = _write_tables(out_dir, rows, errors, leads)
    summary = {
        "ecgs_found": ecgs_found,
        **_counts(table, errors),
        "shards": [p.name for p in shard_paths],
        "identifiers": left_out.as_dict(),
    }
    write_json(out_dir / "summary.json", summary)
    return summary


def _first_occurrences(shard, found, seen, seen_ids, rows):
    """Appends to `rows` the table rows of a shard's rows that are no duplicates.

    `seen` (signal digest -> first ecg_id) and `seen_ids` hold the rows kept
    so far and grow with this shard's. Returns `(keep, dropped)`: a mask over
    the shard's rows and the duplicates' error rows.
    """
    columns = found.columns
    keep, dropped = np.ones(len(found.labels), bool), []
    for row in range(len(found.labels)):
        ecg_id, digest = columns["ecg_id"][row], columns["signal_digest"][row]
        source = columns["source"][row]
        if digest in seen or ecg_id in seen_ids:
            what = f"signal as {seen[digest]}" if digest in seen else f"ecg_id {ecg_id!r}"
            dropped.append((source, "duplicate", f"{source}: same {what}, already tensorized"))
            keep[row] = False
            continue
        seen[digest] = ecg_id
        seen_ids.add(ecg_id)
        rows.append(dict(ecg_id=ecg_id, patient_id=columns["patient_id"][row], shard=shard,
                         row=row - len(dropped), source=source,
                         window=int(found.window[row]),
                         fs_original=float(found.fs_original[row]),
                         n_samples_original=int(found.n_samples_original[row]),
                         quality=columns["quality"][row], **found.labels[row]))
    return keep, dropped


def _write_tables(out_dir, rows, errors, leads=""):
    """Writes labels.csv, index.csv and errors.csv; returns the labels table."""
    table = pd.DataFrame(rows, columns=None if rows else [
        "ecg_id", "patient_id", "shard", "row", "source", "window", "fs_original",
        "n_samples_original", "quality"])
    table.insert(table.columns.get_loc("quality") + 1, "leads", leads)
    if rows:
        _write_csv(table, out_dir / LABELS_FILE)
        index = table[["patient_id", "ecg_id", "shard", "row"]].sort_values(
            ["patient_id", "shard", "row"], kind="stable")
        _write_csv(index, out_dir / INDEX_FILE)
    write_errors(errors, out_dir / "errors.csv")
    return table


def _without_tables(out_dir, shard_paths):
    """Removes the shards (of no rows) and any tables an earlier run left; returns []."""
    for path in [*shard_paths, out_dir / LABELS_FILE, out_dir / INDEX_FILE]:
        Path(path).unlink(missing_ok=True)
    if (out_dir / SHARDS_FOLDER).is_dir() and not any((out_dir / SHARDS_FOLDER).iterdir()):
        (out_dir / SHARDS_FOLDER).rmdir()
    return []


def _counts(table, errors):
    """The summary's counts of ECGs tensorized, flagged and rejected, and of patients."""
    ecgs_per_patient = table.loc[table.patient_id != "", "patient_id"].value_counts()
    return {
        "tensorized": len(table),
        "flagged": int((table["quality"].fillna("") != "").sum()),
        "rejected": dict(sorted(Counter(problem for _, problem, _ in errors).items())),
        "without_patient_id": int((table.patient_id == "").sum()),
        "patients": int(len(ecgs_per_patient)),
        "patients_with_2_or_more_ecgs": int((ecgs_per_patient >= 2).sum()),
    }


def tensorize(inputs, out_dir, settings=TensorizeSettings(), *, planned_errors=(),
              shard_size=500, workers=None, progress=True):
    """Reads, validates, preprocesses and writes `inputs` as HDF5 shards.

    Args:
        inputs: list of `TensorizeInput` (from `find_inputs` or
            `read_manifest`), in the order rows should appear.
        out_dir: str or Path. Output folder; an earlier run's complete shards
            there are kept when their inputs and settings are unchanged.
        settings: `TensorizeSettings`.
        planned_errors: error rows found before reading (excluded rows).
        shard_size: int. Input files per shard.
        workers: int or None. Processes (default: all cores); 1 runs inline.
        progress: bool. Show a progress bar over input files.

    Returns:
        The summary dict also written to `summary.json`: ECGs found,
        tensorized, rejected by problem, patients.
    """
    out_dir = Path(out_dir)
    errors, shards, paths, digests, bases = plan_shards(inputs, out_dir, settings,
                                                        planned_errors, shard_size)
    unique = [item for shard in shards for item in shard]
    todo = [i for i in range(len(shards)) if not is_complete(paths[i], digests[i], bases[i])]
    workers = min(workers or os.cpu_count() or 1, max(1, len(todo)))
    with tqdm(total=len(unique), initial=len(unique) - sum(len(shards[i]) for i in todo),
              unit="file", desc="tensorizing", disable=not progress) as bar:
        if workers == 1:
            for i in todo:
                bar.update(process_shard(paths[i], digests[i], shards[i], settings))
        else:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                futures = [pool.submit(process_shard, paths[i], digests[i], shards[i], settings)
                           for i in todo]
                for future in concurrent.futures.as_completed(futures):
                    bar.update(future.result())
    return finish(out_dir, paths, errors, bases, settings.policy.mode, settings.leads)


def plan_shards(inputs, out_dir, settings, planned_errors=(), shard_size=500):
    """Inputs in order -> (errors, shards of inputs, shard paths, digests, bases).

    An input listed twice (same real path) is a `duplicate` error; the rest
    are cut into shards of `shard_size` in order. A shard's digest names its
    inputs and settings; its basis, the shards up to it, against which its
    duplicates are dropped. Creates `out_dir/shards`.
    """
    (Path(out_dir) / SHARDS_FOLDER).mkdir(parents=True, exist_ok=True)
    policy = settings.policy
    errors, unique, seen_paths = [policy.error(row) for row in planned_errors], [], set()
    for item in inputs:
        key = os.path.realpath(item.path)
        if key in seen_paths:
            errors.append(policy.error((item.path, "duplicate",
                                        f"{item.path}: listed twice in the inputs"),
                                       item.root or None))
            continue
        seen_paths.add(key)
        unique.append(item)
    shards = [unique[i:i + shard_size] for i in range(0, len(unique), shard_size)]
    paths = [shard_path(out_dir, i) for i in range(len(shards))]
    digests = [_digest([settings.basis(), __version__,
                        [dataclasses.asdict(item) for item in shard]]) for shard in shards]
    bases = [_digest(digests[:i + 1]) for i in range(len(shards))]
    return errors, shards, paths, digests, bases


def finish(out_dir, paths, errors, bases, identifiers="remove", leads=""):
    """Removes shards of earlier, larger runs; merges `paths` into the tables and summary
    (`identifiers`: the policy's mode, for the summary; `leads`: `TensorizeSettings.leads`)."""
    out_dir = Path(out_dir)
    for stale in (out_dir / SHARDS_FOLDER).glob(SHARD_PATTERN.replace("{:05d}", "*")):
        if stale not in paths:
            stale.unlink()  # left by an earlier run over more inputs
    return _merge(out_dir, paths, errors, bases, identifiers, leads)
