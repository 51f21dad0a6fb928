"""Moved to tests/training/ (test_tensors, test_pairs, test_labelled; the folder writer in
tensor_folders.py); this module re-exports the helpers other tests import, for one release."""

from training.tensor_folders import C, L, fake_contexts, ids, patient_of, take, write_tensors

__all__ = ["C", "L", "fake_contexts", "ids", "patient_of", "take", "write_tensors"]
