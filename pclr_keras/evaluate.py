"""Moved to `pclr_keras.evaluation`; this path re-exports it for one release."""

from pclr_keras.evaluation.inputs import (ID, PATIENT, SUPERCLASSES, feature_columns,
                                          load_representation, read_table, superclass_targets)
from pclr_keras.evaluation.linear import LOGISTIC_CS, RIDGE_ALPHAS
from pclr_keras.evaluation.metrics import METRIC_NAMES, METRICS, metric
from pclr_keras.evaluation.plots import plot_probe
from pclr_keras.evaluation.probe import DEFAULT_LABEL_COUNTS, ProbeResult, probe
from pclr_keras.evaluation.report import write_report
from pclr_keras.evaluation.retrieval import retrieval, retrieval_table
from pclr_keras.folds import cv_splits
from pclr_keras.evaluation.tables import markdown_report

__all__ = ["DEFAULT_LABEL_COUNTS", "ID", "LOGISTIC_CS", "METRICS", "METRIC_NAMES", "PATIENT",
           "RIDGE_ALPHAS", "SUPERCLASSES", "ProbeResult", "cv_splits", "feature_columns",
           "load_representation", "markdown_report", "metric", "plot_probe", "probe",
           "read_table", "retrieval", "retrieval_table", "superclass_targets", "write_report"]
