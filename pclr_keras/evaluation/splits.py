"""Who trains and who is held out, always by patient.

Two ECGs of one patient look alike far more than two patients' ECGs do; a
patient on both sides of a split would flatter every representation. The
probes' held-out set lives here; the cross-validation folds inside a
training subset and the check that refuses a leaky split live in
`pclr_keras.folds`, below training, which uses them too.
"""

import numpy as np
import pandas as pd

from pclr_keras.evaluation.inputs import ID, PATIENT, as_ids


def held_out_mask(test, frame, keep, seed):
    """Boolean mask over the rows of `frame` (aligned labels) for the held-out set.

    `test` is None or a float (that share of the patients among the `keep`
    rows, by `GroupShuffleSplit`), a query on the labels, a boolean Series
    or array aligned with the original labels (`frame`'s `_index` / `_row`
    columns), or a list of `ecg_id`s.
    """
    if test is None or isinstance(test, float):
        from sklearn.model_selection import GroupShuffleSplit

        split = GroupShuffleSplit(n_splits=1, test_size=0.2 if test is None else test,
                                  random_state=seed)
        kept = np.flatnonzero(keep)
        _, test_rows = next(split.split(kept, groups=frame[PATIENT].to_numpy()[kept]))
        mask = np.zeros(len(frame), bool)
        mask[kept[test_rows]] = True
        return mask
    if isinstance(test, str):
        return frame.index.isin(frame.query(test).index)
    if isinstance(test, pd.Series) and test.dtype == bool:
        return test.reindex(frame["_index"], fill_value=False).to_numpy(bool)
    values = np.asarray(test)
    if values.dtype == bool:
        return values[frame["_row"].to_numpy()]
    return np.isin(frame[ID].to_numpy(), as_ids(values))
