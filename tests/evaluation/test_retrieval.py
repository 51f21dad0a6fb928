"""Same-patient retrieval: clusters found, chance exact."""

import numpy as np
import pytest

from pclr_keras.evaluation.retrieval import retrieval
from representation_cohort import synthetic_cohort


@pytest.fixture(scope="module")
def cohort():
    return synthetic_cohort()


def test_retrieval_finds_patient_clusters_and_chance_is_exact():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 16))
    patients = np.repeat(np.arange(60), 3)
    clustered = centres[patients] + 0.05 * rng.normal(size=(180, 16))
    result = retrieval(clustered, patients)
    assert result["top1"] == 1.0 and result["top5"] == 1.0
    assert result["n_queries"] == 180 and result["n_patients"] == 60
    noise = retrieval(rng.normal(size=(180, 16)), patients)
    assert noise["top1"] < 0.1
    # 1 - C(N-1-m, k) / C(N-1, k), N = 180, m = 2.
    assert result["chance_top1"] == pytest.approx(2 / 179)
    assert result["chance_top5"] == pytest.approx(1 - (177 * 176 * 175 * 174 * 173) /
                                                  (179 * 178 * 177 * 176 * 175))

    # By hand: patients a a b b b c. Queries: the two a's (m = 1) and three b's
    # (m = 2) among N - 1 = 5 candidates. top-1 chance: (2 * 1/5 + 3 * 2/5) / 5.
    small = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [-1, 0.2], [-1, -0.2]], float)
    hand = retrieval(small, ["a", "a", "b", "b", "b", "c"], k=(1, 2, 5))
    assert hand["n_queries"] == 5 and hand["n_ecgs"] == 6
    assert hand["chance_top1"] == pytest.approx(0.32)
    assert hand["chance_top2"] == pytest.approx((2 * (1 - 6 / 10) + 3 * (1 - 3 / 10)) / 5)
    assert hand["chance_top5"] == pytest.approx(1.0)
    # a->a, a->a, b->b, b->b, and b at (-1, 0.2) -> c: 4 of 5.
    assert hand["top1"] == pytest.approx(0.8)
    assert hand["top5"] == 1.0


def test_retrieval_reads_a_table(cohort):
    _, good, _ = cohort
    result = retrieval(good)
    assert result["n_ecgs"] == len(good)
    assert 0 <= result["chance_top1"] < result["chance_top5"] < 1

