"""Argument checks shared by the library's entry points: one wording for one mistake."""

import numpy as np


def positive_int(value, name):
    """`value` as an int if it is a positive integer (not a bool); else a `ValueError` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}.")
    return int(value)
