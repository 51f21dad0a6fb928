"""Same-patient retrieval: what PCLR optimises, measured without labels.

How often is an ECG's nearest neighbour (by cosine similarity) another ECG
of the same patient? Reported beside its exact expectation under random
neighbours, so that representations of cohorts with different numbers of
ECGs per patient compare.
"""

import numpy as np
import pandas as pd

from pclr_keras.evaluation.inputs import (ID, PATIENT, as_ids, feature_matrix,
                                          load_representation, read_table)


def _chance(n_candidates, others, k):
    """P(at least one of `others` among k of `n_candidates` drawn at random)."""
    k = min(k, n_candidates)
    miss = np.ones(len(others))
    for i in range(k):
        miss *= np.clip(n_candidates - others - i, 0, None) / (n_candidates - i)
    return 1.0 - miss


def _matrix_and_patients(embeddings, patients, prefix):
    """(embeddings (n, d) float64, patient codes (n,)) from an array or a table."""
    if not isinstance(embeddings, np.ndarray):
        table = load_representation(embeddings, prefix=prefix)
        if patients is None:
            if PATIENT not in table.columns:
                raise ValueError("retrieval needs patient ids")
            patients = table[PATIENT].to_numpy()
        embeddings = feature_matrix(table).to_numpy()
    matrix = np.asarray(embeddings, np.float64)
    codes, _ = pd.factorize(np.asarray(patients))
    if len(codes) != len(matrix):
        raise ValueError(f"{len(codes)} patient ids for {len(matrix)} embeddings")
    return matrix, codes


def _queries(codes):
    """(each ECG's count of other ECGs of its patient, the ECGs that have one: the queries)."""
    others = np.bincount(codes)[codes] - 1
    queries = np.flatnonzero(others >= 1)
    if len(queries) == 0:
        raise ValueError("no patient has two ECGs or more: nothing to retrieve")
    return others, queries


def _hits(matrix, codes, queries, ks, chunk_size):
    """k -> (queries,) bool: another ECG of the query's patient among its k nearest."""
    unit = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    top = min(max(ks), len(matrix) - 1)
    hits = {v: np.zeros(len(queries), bool) for v in ks}
    for start in range(0, len(queries), chunk_size):
        batch = queries[start:start + chunk_size]
        similarity = unit[batch] @ unit.T
        similarity[np.arange(len(batch)), batch] = -np.inf
        nearest = np.argpartition(-similarity, top - 1, axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(similarity, nearest, axis=1), axis=1,
                           kind="stable")
        nearest = np.take_along_axis(nearest, order, axis=1)
        same = codes[nearest] == codes[batch][:, None]
        for v in ks:
            hits[v][start:start + len(batch)] = same[:, :v].any(axis=1)
    return hits


def retrieval(embeddings, patients=None, *, k=(1, 5), prefix=None, chunk_size=1024):
    """Same-patient retrieval: how often an ECG's nearest neighbours include its patient.

    Every ECG of a patient with two ECGs or more in the given set is a
    query; its neighbours are all other given ECGs (other patients' single
    ECGs included), ranked by cosine similarity.

    Args:
        embeddings: array (n, d), or a representation table (DataFrame or
            path) whose `patient_id` is used when `patients` is None.
        patients: array (n,) of patient ids, or None.
        k: sequence of int. Neighbourhood sizes.
        prefix: str or None. Feature column prefix of a table.
        chunk_size: int. Queries compared at once (bounds memory).

    Returns:
        dict: n_ecgs, n_queries, n_patients (with >= 2 ECGs), and for each k
        `top{k}` (fraction of queries with another ECG of their patient among
        their k nearest) and `chance_top{k}` (its expectation under random
        neighbours: the mean over queries of 1 - C(N-1-m, k) / C(N-1, k),
        N ECGs, m the query's patient's other ECGs).
    """
    matrix, codes = _matrix_and_patients(embeddings, patients, prefix)
    ks = sorted({int(v) for v in k})
    n = len(matrix)
    others, queries = _queries(codes)
    result = dict(n_ecgs=n, n_queries=len(queries), n_patients=int(len(np.unique(codes[queries]))))
    hits = _hits(matrix, codes, queries, ks, chunk_size)
    for v in ks:
        result[f"top{v}"] = float(hits[v].mean())
        result[f"chance_top{v}"] = float(_chance(n - 1, others[queries], v).mean())
    return result


def retrieval_table(representations, *, ecg_ids=None, k=(1, 5), prefix=None, patients=None):
    """`retrieval` for several representations on the same ECGs, as a table.

    Args:
        representations: dict name -> representation table (DataFrame or path).
        ecg_ids: ids to keep (e.g. the held-out ECGs), or None for all; ECGs
            missing from a representation are left out of all of them.
        k: sequence of int.
        prefix: str or None. Feature column prefix.
        patients: DataFrame with `ecg_id` and `patient_id` (e.g. the labels),
            used when the representations have no `patient_id`.

    Returns:
        DataFrame, one row per representation: n_ecgs, n_queries,
        n_patients, top{k}, chance_top{k}.
    """
    tables = {name: load_representation(r, prefix=prefix) for name, r in representations.items()}
    common = None
    for table in tables.values():
        common = set(table[ID]) if common is None else common & set(table[ID])
    if ecg_ids is not None:
        common &= set(as_ids(ecg_ids))
    lookup = None
    if patients is not None:
        patients = read_table(patients)
        lookup = pd.Series(as_ids(patients[PATIENT]), index=as_ids(patients[ID]))
    rows = []
    for name, table in tables.items():
        table = table[table[ID].isin(common)].sort_values(ID)
        who = (lookup.reindex(table[ID]).to_numpy() if lookup is not None
               else table[PATIENT].to_numpy())
        if pd.isna(who).any():
            raise ValueError(f"{name}: ECGs without a patient id")
        rows.append(dict(representation=name, **retrieval(feature_matrix(table).to_numpy(),
                                                          who, k=k)))
    return pd.DataFrame(rows)


def retrieval_with_interval(embeddings, patients, *, n_boot=1000, seed=0, chunk_size=1024):
    """Top-1 same-patient retrieval with a 95 % interval from resampling query patients.

    Every ECG given is in the gallery; every ECG whose patient has another
    one among them is a query. A query patient's ECGs are drawn together:
    their hits are not independent.

    Returns:
        dict: top1, ci95 [low, high], chance_top1, n_queries,
        n_query_patients, gallery (ECGs searched), n_boot.
    """
    matrix, codes = _matrix_and_patients(np.asarray(embeddings), patients, None)
    others, queries = _queries(codes)
    hits = _hits(matrix, codes, queries, [1], chunk_size)[1].astype(np.float64)
    query_patients, owner = np.unique(codes[queries], return_inverse=True)
    rng = np.random.default_rng([seed, 31])
    counts = rng.multinomial(len(query_patients), np.full(len(query_patients),
                                                          1.0 / len(query_patients)), size=n_boot)
    weights = counts[:, owner]
    values = weights @ hits / weights.sum(axis=1)
    low, high = np.percentile(values, [2.5, 97.5])
    return dict(top1=float(hits.mean()), ci95=[float(low), float(high)],
                chance_top1=float(_chance(len(matrix) - 1, others[queries], 1).mean()),
                n_queries=int(len(queries)), n_query_patients=int(len(query_patients)),
                gallery=int(len(matrix)), n_boot=n_boot)
