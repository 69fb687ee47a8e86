"""The statistics behind drift decisions agree with scipy's on fixed data."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from loopml.monitoring import stats


def _pair(n1: int, n2: int, shift: float, seed: int, *, ties: bool = False):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, n1), rng.normal(shift, 1.2, n2)
    if ties:
        a, b = np.round(a * 2), np.round(b * 2)
    return np.sort(a), np.sort(b)


@pytest.mark.parametrize(
    ("n1", "n2", "shift", "ties"),
    [
        (40, 55, 0.0, False),
        (300, 300, 0.2, False),
        (1000, 700, 0.1, False),
        (500, 800, 0.3, True),  # many equal values on both sides
        (12_000, 10_500, 0.02, False),  # past 10,000 values: the asymptotic p-value
        (30_000, 900, 0.0, False),
    ],
)
def test_ks_matches_scipy_statistic_and_p_value(n1: int, n2: int, shift: float, ties: bool) -> None:
    a, b = _pair(n1, n2, shift, seed=n1 + n2, ties=ties)
    d, p = stats.ks(a, b)
    want = sps.ks_2samp(a, b)
    assert d == pytest.approx(want.statistic, abs=1e-12)
    assert p == pytest.approx(want.pvalue, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("n1", "n2"), [(50, 50), (333, 1000), (20_000, 7_000)])
def test_wasserstein_matches_scipy(n1: int, n2: int) -> None:
    a, b = _pair(n1, n2, 0.4, seed=n1, ties=n1 == 333)
    assert stats.wasserstein(a, b) == pytest.approx(sps.wasserstein_distance(a, b), rel=1e-9)


@pytest.mark.parametrize(
    ("ref", "cur"),
    [
        ([100, 50, 30, 0], [90, 70, 20, 5]),  # a category new in the current window
        ([500, 500], [480, 520]),  # two categories: no continuity correction
        ([7, 0, 3], [0, 9, 1]),
    ],
)
def test_chi2_matches_scipy_contingency_without_correction(ref: list[int], cur: list[int]) -> None:
    r, c = np.array(ref, dtype=np.int64), np.array(cur, dtype=np.int64)
    stat, p = stats.chi2(r, c)
    keep = (r + c) > 0
    want = sps.chi2_contingency(np.array([r[keep], c[keep]]), correction=False)
    assert stat == pytest.approx(want.statistic, rel=1e-9)
    assert p == pytest.approx(want.pvalue, rel=1e-9, abs=1e-15)


def test_chi2_of_a_single_category_is_no_difference() -> None:
    assert stats.chi2(np.array([40]), np.array([3])) == (0.0, 1.0)


@pytest.mark.parametrize(("ref", "cur"), [([100, 50, 30, 0], [90, 70, 20, 5]), ([1, 0], [0, 1])])
def test_jensenshannon_matches_scipy_base_2(ref: list[int], cur: list[int]) -> None:
    r, c = np.array(ref, dtype=np.int64), np.array(cur, dtype=np.int64)
    want = jensenshannon(r / r.sum(), c / c.sum(), base=2)
    assert stats.jensenshannon(r, c) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_psi_over_reference_deciles_by_hand() -> None:
    a = np.arange(1000, dtype=np.float64)  # deciles at 99, 199, ..., 899
    b = np.sort(np.concatenate([np.arange(0, 500, dtype=np.float64), np.full(500, 950.0)]))
    ref = np.full(10, 0.1)
    cur = np.array([100, 100, 100, 100, 100, 0, 0, 0, 0, 500]) / 1000
    cur = np.maximum(cur, stats.PSI_EPSILON)
    want = float(np.sum((cur - ref) * np.log(cur / ref)))
    assert stats.psi(a, b) == pytest.approx(want, rel=1e-12)
    assert stats.psi(a, a) == 0.0
