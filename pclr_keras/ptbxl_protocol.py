"""Moved to `pclr_keras.evaluation.ptbxl.protocol`; this path re-exports it for one release."""

from pclr_keras.evaluation.ptbxl.protocol import (C_GRID, FRACTIONS, LABEL_SETS, age_band,
                                                  bootstrap_interval, compare_on_fold9,
                                                  fit_logistic, fit_scores, linear_evaluation,
                                                  macro_auroc, paired_difference,
                                                  ptbxl_subgroups, statement_labels,
                                                  training_subset)

__all__ = ["C_GRID", "FRACTIONS", "LABEL_SETS", "age_band", "bootstrap_interval",
           "compare_on_fold9", "fit_logistic", "fit_scores", "linear_evaluation", "macro_auroc",
           "paired_difference", "ptbxl_subgroups", "statement_labels", "training_subset"]
