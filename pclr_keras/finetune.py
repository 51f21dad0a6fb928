"""Moved to `pclr_keras.training.finetune`; this path re-exports it for one release."""

from pclr_keras.training.finetune import (
    TASKS,
    FinetuneConfig,
    build_task_model,
    ecg_dataset,
    finetune,
    task_dataset,
)

__all__ = [
    "TASKS", "FinetuneConfig", "build_task_model", "ecg_dataset", "finetune", "task_dataset"
]
