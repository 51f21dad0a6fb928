"""The int8 guard's numbers and the calibration / guard split."""

import numpy as np
import pytest

from pclr_keras.export.quantize import guard_report, split_calibration


def test_guard_reports_each_ecgs_cosine_and_fails_below_the_threshold():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(5, 320))
    moved = reference.copy()
    moved[3] = reference[3] + 0.2 * rng.normal(size=320) * np.abs(reference[3]).mean()
    report = guard_report(reference, moved)
    expected = [1.0] * 3 + [float(reference[3] @ moved[3] / np.linalg.norm(reference[3])
                                  / np.linalg.norm(moved[3]))] + [1.0]
    assert report["cosines"] == pytest.approx(expected, abs=1e-6)
    assert report["min_cosine"] == pytest.approx(expected[3], abs=1e-6) and expected[3] < 0.995
    assert (report["ecgs"], report["below_threshold"], report["passed"]) == (5, 1, False)
    assert guard_report(reference, 2 * reference)["passed"]  # scale does not count


def test_guard_ecgs_are_never_calibration_ecgs():
    ecgs = np.arange(100)[:, None, None] * np.ones((1, 4, 2))
    calibration, guard = split_calibration(ecgs, 20)
    assert len(guard) == 20 and len(calibration) == 80
    assert not set(calibration[:, 0, 0]) & set(guard[:, 0, 0])
    assert guard[:, 0, 0].tolist() == list(range(4, 100, 5))  # spread over the source
