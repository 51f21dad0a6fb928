"""PTB-XL's folds as the benchmark uses them, and the guard that keeps fold 10 a test set.

Strodthoff et al.'s protocol splits PTB-XL by patient into ten folds
(`strat_fold`): folds 1-8 train, fold 9 chooses (checkpoint, learning rate,
recipe, which model to release), fold 10 is scored once per released model.
A test score is only a test score if nothing was chosen by looking at it, so
every piece of code that chooses takes its split from here, and
`guard_selection` refuses a selection set that holds fold-10 ECGs.
"""

import warnings

FOLD_COLUMN = "strat_fold"
TRAIN_FOLDS = "strat_fold <= 8"
SELECTION_FOLD = "strat_fold == 9"
TEST_FOLD = "strat_fold == 10"
SELECTION_FOLD_NUMBER = 9
TEST_FOLD_NUMBER = 10


class SelectionOnTestFoldError(ValueError):
    """A choice was about to be made by looking at PTB-XL's test fold."""


def guard_selection(labels, what, *, allow_test_fold=False):
    """Refuses a set used to choose something when it holds fold-10 ECGs.

    Args:
        labels: DataFrame of the ECGs the choice looks at (e.g. the
            validation set of a training run).
        what: str. Names the set in the message, e.g. "the validation set
            (--val-filter)".
        allow_test_fold: bool. Warn instead of refusing, for a user who
            knowingly gives up a clean test score.

    Raises:
        SelectionOnTestFoldError: fold-10 ECGs in `labels`, not allowed.
    """
    if FOLD_COLUMN not in labels.columns:
        return
    count = int((labels[FOLD_COLUMN] == TEST_FOLD_NUMBER).sum())
    if not count:
        return
    message = (f"{what} holds {count} ECGs of fold 10, PTB-XL's test fold. Choices "
               f"(checkpoint, learning rate, recipe, release) are made on fold 9 "
               f"({SELECTION_FOLD!r}) so that fold 10 is scored once per released model "
               "and never chooses.")
    if not allow_test_fold:
        raise SelectionOnTestFoldError(
            message + " Select fold 9 instead, or pass --allow-test-fold (allow_test_fold=True) "
            "if fold 10 will not be reported as a test score.")
    warnings.warn(message + " Going on because the test fold was allowed: fold-10 scores of "
                  "anything chosen this way are not clean test scores.", stacklevel=2)
