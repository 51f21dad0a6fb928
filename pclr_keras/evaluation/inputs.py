"""What an evaluation reads: representation tables and label columns.

A representation is a DataFrame (or a Parquet / CSV / NPZ file) with
`ecg_id`, optionally `patient_id`, and feature columns; labels are a
DataFrame or CSV with `ecg_id`, `patient_id` and target columns (the
`labels.csv` of `pclr tensorize`). Ids are compared as strings everywhere,
so they are normalised once, here.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd

ID = "ecg_id"
PATIENT = "patient_id"
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")


def as_ids(values):
    """Ids as strings; integral floats (1.0 from a CSV column with gaps) as integers."""
    values = pd.Series(values)
    if pd.api.types.is_float_dtype(values):
        return np.array(["nan" if np.isnan(v) else str(int(v)) if float(v).is_integer()
                         else str(v) for v in values], dtype=object)
    return values.astype(str).to_numpy()


def read_table(source):
    """A DataFrame from a DataFrame, a `.parquet`, `.csv`/`.tsv` or `.npz` file.

    An `.npz` needs an `embeddings` array (n, d) and an `ecg_id`, `ecg_ids`
    or `sources` array; `patient_id` / `patient_ids` are used when present.
    Feature columns are named `embed_000`, `embed_001`, ...
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",",
                           dtype={ID: str, PATIENT: str})
    if suffix == ".npz":
        return _read_npz(path)
    raise ValueError(f"{path}: expected .parquet, .csv, .tsv or .npz")


def _read_npz(path):
    """An `.npz` of embeddings and ids as a representation table."""
    with np.load(path, allow_pickle=False) as data:
        matrix = np.asarray(data["embeddings"])
        id_key = next((k for k in ("ecg_id", "ecg_ids", "sources") if k in data), None)
        if id_key is None:
            raise ValueError(f"{path}: an .npz needs 'ecg_id' (or 'sources') beside "
                             "'embeddings'")
        frame = pd.DataFrame({ID: data[id_key].astype(str)})
        patient_key = next((k for k in ("patient_id", "patient_ids") if k in data), None)
        if patient_key:
            frame[PATIENT] = data[patient_key].astype(str)
    width = max(3, len(str(matrix.shape[1] - 1)))
    columns = [f"embed_{i:0{width}d}" for i in range(matrix.shape[1])]
    return pd.concat([frame, pd.DataFrame(matrix, columns=columns)], axis=1)


def feature_columns(frame, prefix=None):
    """The feature columns of a representation table.

    Args:
        frame: DataFrame.
        prefix: str or None. Columns starting with it; None: every numeric
            column other than `ecg_id` and `patient_id`.
    """
    if prefix is not None:
        columns = [c for c in frame.columns if str(c).startswith(prefix)]
    else:
        columns = [c for c in frame.columns if c not in (ID, PATIENT)
                   and pd.api.types.is_numeric_dtype(frame[c])
                   and not pd.api.types.is_bool_dtype(frame[c])]
    if not columns:
        raise ValueError(f"no feature columns{f' starting with {prefix!r}' if prefix else ''}"
                         f" among {list(frame.columns)[:10]}")
    return columns


def load_representation(source, *, prefix=None):
    """A representation table: `ecg_id`, `patient_id` if known, then features (float).

    Args:
        source: DataFrame or path (see `read_table`).
        prefix: str or None. Feature column prefix (see `feature_columns`).
    """
    frame = read_table(source)
    if ID not in frame.columns:
        raise ValueError(f"a representation needs an {ID!r} column; got {list(frame.columns)[:10]}")
    columns = feature_columns(frame, prefix)
    out = pd.DataFrame({ID: as_ids(frame[ID])})
    if PATIENT in frame.columns:
        out[PATIENT] = as_ids(frame[PATIENT])
    features = frame[columns].astype(np.float64).reset_index(drop=True)
    out = pd.concat([out, features], axis=1)
    if out[ID].duplicated().any():
        raise ValueError(f"duplicated ecg_id in a representation, e.g. "
                         f"{out[ID][out[ID].duplicated()].iloc[0]!r}")
    return out


def feature_matrix(table):
    """The features of a `load_representation` table: every column but the ids."""
    return table[[c for c in table.columns if c not in (ID, PATIENT)]]


def superclass_targets(labels, column="diagnostic_superclass", classes=SUPERCLASSES, sep=";"):
    """Binary columns, one per class, from a multi-label column.

    Args:
        labels: DataFrame with `column`, e.g. PTB-XL's `diagnostic_superclass`
            ("NORM", "CD;MI", ...). A Python-list spelling ("['CD', 'MI']")
            is accepted too.
        column: str. The multi-label column.
        classes: sequence of str. The classes to make columns of.
        sep: str. Separator between classes in a cell.

    Returns:
        DataFrame with the index of `labels` and one float column per class:
        1.0 where the class is listed, 0.0 where another one is, NaN where the
        cell is empty (an ECG without a label is not a negative; `probe`
        leaves it out). Join it to `labels` with `labels.join(...)`.
    """
    def parse(cell):
        if cell is None or (isinstance(cell, float) and math.isnan(cell)):
            return None
        text = str(cell).strip().strip("[]")
        parts = [p.strip().strip("'\"") for p in text.replace(",", sep).split(sep)]
        parts = {p for p in parts if p}
        return parts or None

    sets = labels[column].map(parse)
    return pd.DataFrame({c: sets.map(lambda s, c=c: np.nan if s is None else float(c in s))
                         for c in classes}, index=labels.index)
