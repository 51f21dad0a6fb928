"""Moved to `pclr_keras.evaluation.ptbxl.finetune`; this path re-exports it for one release."""

from pclr_keras.evaluation.ptbxl.finetune import (BestOnFoldNine, EpochCheckpoint,
                                                  FinetuneBudget, build_statement_model,
                                                  finetune_run, predict_rows)

__all__ = ["BestOnFoldNine", "EpochCheckpoint", "FinetuneBudget", "build_statement_model",
           "finetune_run", "predict_rows"]
