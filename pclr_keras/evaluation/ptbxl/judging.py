"""Several frozen representations judged on PTB-XL together, as results-file figures.

`protocol.py` scores one representation; a release is judged beside the
ones it claims to beat, on the same ECGs, the same training subsets and the
same patient resamples, and its per-ECG fold-10 scores are kept so that a
later release can be compared with it pairwise. Every figure comes out as a
plain dict, ready for `pclr_keras.evaluation.results`.
"""

import numpy as np

from pclr_keras.evaluation.intervals import N_BOOT, paired_macro_auroc_difference
from pclr_keras.evaluation.ptbxl.protocol import (FRACTIONS, LABEL_SETS, judge_on_fold10,
                                                  linear_evaluation, ptbxl_subgroups,
                                                  statement_labels)
from pclr_keras.evaluation.retrieval import retrieval_with_interval
from pclr_keras.folds import TEST_FOLD_NUMBER


def score_key(label_set, fraction):
    """The per-ECG scores' key for one label set and training fraction."""
    return f"{label_set}__{fraction:g}"


def judge_representations(features, rows, statements, *, label_sets=LABEL_SETS,
                          fractions=FRACTIONS, seed=0, n_boot=N_BOOT, pairs=(),
                          subgroups=False, fit_cache=None):
    """Fold-10 linear evaluation of each representation, and paired differences.

    Args:
        features: dict name -> array (n, d), rows aligned with `rows`.
        rows: PTB-XL labels (DataFrame: ecg_id, patient_id, strat_fold,
            scp_codes; sex and age for `subgroups`).
        statements: `scp_statements.csv` as a DataFrame indexed by code.
        pairs: (name, baseline name) pairs: fold-10 differences of name
            minus baseline with a paired patient interval.

    Returns:
        (figures: {"linear": [...], "paired": [...]},
         scores: name -> {score_key: (ecg_ids, scores (ECGs, labels))}).
    """
    missing = {n for pair in pairs for n in pair} - set(features)
    if missing:
        raise ValueError(f"pairs name representations not given: {sorted(missing)}")
    folds, patients = rows.strat_fold.to_numpy(), rows.patient_id.to_numpy()
    groups = ptbxl_subgroups(rows) if subgroups else None
    linear, paired, scores = [], [], {name: {} for name in features}
    for label_set in label_sets:
        y = statement_labels(rows.scp_codes, statements, label_set).to_numpy()
        judged = {name: judge_on_fold10(x, y, folds, fractions=fractions, seed=seed,
                                        fit_cache=fit_cache)
                  for name, x in features.items()}
        for name, fits in judged.items():
            table = linear_evaluation(features[name], y, folds, patients=patients,
                                      seed=seed, n_boot=n_boot, subgroups=groups, judged=fits)
            linear += [_linear_figure(name, label_set, r) for r in table.itertuples()]
            for row, test, s in fits:
                key = score_key(label_set, row["fraction"])
                scores[name][key] = (rows.ecg_id.to_numpy()[test], s)
        for name, baseline in pairs:
            for (row, test, ours), (_, _, bar) in zip(judged[name], judged[baseline]):
                result = paired_macro_auroc_difference(y[test], bar, ours, patients[test],
                                                       n_boot, seed)
                paired.append(dict(representation=name, baseline=baseline,
                                   label_set=label_set, fraction=row["fraction"], **result))
    return {"linear": linear, "paired": paired}, scores


def _linear_figure(name, label_set, r):
    return dict(representation=name, label_set=label_set, fraction=r.fraction,
                subgroup=r.subgroup, auroc=r.test_auroc, ci95=[r.ci_low, r.ci_high],
                labels=int(r.test_labels), test_ecgs=int(r.test_ecgs),
                train_ecgs=int(r.train_ecgs), C=r.C, val_auroc=r.val_auroc,
                draws=int(r.draws))


def retrieval_on_fold10(features, rows, *, n_boot=N_BOOT, seed=0):
    """Same-patient top-1 on fold 10: every fold-10 ECG in the gallery, query patients resampled.

    Returns:
        list of dicts: representation, top1, ci95, chance_top1, n_queries,
        n_query_patients, gallery, n_boot.
    """
    test = rows.strat_fold.to_numpy() == TEST_FOLD_NUMBER
    patients = rows.patient_id.to_numpy()[test]
    return [dict(representation=name, **retrieval_with_interval(
        np.asarray(x)[test], patients, n_boot=n_boot, seed=seed))
        for name, x in features.items()]
