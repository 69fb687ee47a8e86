"""The two-sample statistics behind drift decisions, on sorted samples and category counts.

Each function takes what the column summaries already hold (one sort per column and side, one
count per category) and returns plain floats; they agree with scipy's functions of the same name
to floating-point accuracy (checked in tests/monitoring/test_stats.py):

- :func:`ks` is ``scipy.stats.ks_2samp(a, b)`` with its default ``method="auto"``: the exact
  p-value when both samples have at most 10,000 values (taken from scipy, whose lattice-path
  computation is compiled), Smirnov's asymptotic distribution (``kstwo.sf(d, round(n*m/(n+m)))``)
  on our own statistic otherwise, so large samples are sorted once, not again by scipy.
- :func:`wasserstein` is ``scipy.stats.wasserstein_distance(a, b)``.
- :func:`chi2` is ``scipy.stats.chi2_contingency([ref, cur], correction=False)`` on the
  2 x k table of category counts (a test of homogeneity: both samples carry noise).
- :func:`jensenshannon` is ``scipy.spatial.distance.jensenshannon(p, q, base=2)`` of the
  category shares (0 = same shares, 1 = disjoint categories).
- :func:`psi` is the population stability index over 10 reference-quantile bins."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

#: scipy's ``ks_2samp(method="auto")`` computes the exact p-value up to this sample size.
KS_EXACT_MAX_N = 10_000
#: Share given to an empty PSI bin so that its logarithm stays finite.
PSI_EPSILON = 1e-4
PSI_BINS = 10


def ks(a: Floats, b: Floats) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov statistic and p-value of sorted ``a`` and ``b``."""
    n1, n2 = len(a), len(b)
    # The empirical CDFs differ most at a data point: evaluate both at every value of each.
    d = 0.0
    for x in (a, b):
        diff = np.searchsorted(a, x, side="right") / n1 - np.searchsorted(b, x, side="right") / n2
        d = max(d, float(np.max(np.abs(diff))))
    if max(n1, n2) <= KS_EXACT_MAX_N:
        # The exact null distribution (lattice paths) is compiled code in scipy, and at these
        # sizes scipy's own test costs about a millisecond: use it, so the p-value is scipy's.
        import warnings

        from scipy.stats import ks_2samp

        with warnings.catch_warnings():
            # scipy falls back to the asymptotic p-value (with a warning) where the exact
            # computation loses precision; that fallback is the answer we want too.
            warnings.simplefilter("ignore", RuntimeWarning)
            result = ks_2samp(a, b, method="auto")
        return d, float(result.pvalue)
    from scipy.stats import kstwo

    m, n = max(n1, n2), min(n1, n2)
    en = m * n / (m + n)
    p = float(kstwo.sf(d, np.round(en)))
    return d, min(max(p, 0.0), 1.0)


def wasserstein(a: Floats, b: Floats) -> float:
    """First Wasserstein distance between the empirical distributions of sorted ``a`` and ``b``:
    the area between their CDFs, summed over the gaps between consecutive merged values."""
    n1, n2 = len(a), len(b)
    if n1 == n2:
        return float(np.mean(np.abs(a - b)))
    total = n1 + n2
    # Merge the two sorted samples without sorting again: b[j] lands after the values of a
    # that are <= it and after b[:j]. (The order among equal values does not matter: the gap
    # between them is 0.)
    at = np.searchsorted(a, b, side="right")
    at += np.arange(n2)
    from_b = np.zeros(total, dtype=bool)
    from_b[at] = True
    del at
    merged = np.empty(total)
    merged[from_b] = b
    np.logical_not(from_b, out=from_b)  # now: from a
    merged[from_b] = a
    # F_a - F_b after the k-th merged value (k = 1..total), with c_a values of a among them:
    # c_a / n1 - (k - c_a) / n2 = c_a (1/n1 + 1/n2) - k / n2.
    diff = np.cumsum(from_b, dtype=np.float64)
    del from_b
    diff *= 1.0 / n1 + 1.0 / n2
    k = np.arange(1, total + 1, dtype=np.float64)
    k /= n2
    diff -= k
    del k
    np.abs(diff, out=diff)
    gaps = np.diff(merged)
    return float(np.dot(diff[:-1], gaps))


def psi_edges(a: Floats) -> Floats:
    """The inner bin edges of PSI: the reference deciles (lower values), without repeats."""
    n = len(a)
    idx = (np.arange(1, PSI_BINS) * (n - 1)) // PSI_BINS
    return np.unique(a[idx])


def psi(a: Floats, b: Floats, edges: Floats | None = None) -> float:
    """Population stability index of sorted ``b`` against sorted ``a`` over ``edges`` (bins
    ``(-inf, e1], (e1, e2], ..., (ek, inf)``); an empty bin counts as a share of 1e-4."""
    if edges is None:
        edges = psi_edges(a)
    ref = _bin_shares(a, edges)
    cur = _bin_shares(b, edges)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_from_counts(ref_counts: Ints, cur_counts: Ints) -> float:
    ref = np.maximum(ref_counts / max(int(ref_counts.sum()), 1), PSI_EPSILON)
    cur = np.maximum(cur_counts / max(int(cur_counts.sum()), 1), PSI_EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _bin_shares(x: Floats, edges: Floats) -> Floats:
    cuts = np.concatenate([[0], np.searchsorted(x, edges, side="right"), [len(x)]])
    shares: Floats = np.diff(cuts) / max(len(x), 1)
    return np.maximum(shares, PSI_EPSILON)


def chi2(ref_counts: Ints, cur_counts: Ints) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two count vectors over the same categories (every
    category seen on at least one side): statistic and p-value."""
    from scipy.special import chdtrc

    keep = (ref_counts + cur_counts) > 0
    r = ref_counts[keep].astype(np.float64)
    c = cur_counts[keep].astype(np.float64)
    dof = len(r) - 1
    if dof <= 0:
        return 0.0, 1.0
    n_r, n_c = r.sum(), c.sum()
    col = r + c
    n = n_r + n_c
    exp_r, exp_c = col * (n_r / n), col * (n_c / n)
    stat = float(np.sum((r - exp_r) ** 2 / exp_r) + np.sum((c - exp_c) ** 2 / exp_c))
    return stat, float(chdtrc(dof, stat))


def jensenshannon(ref_counts: Ints, cur_counts: Ints) -> float:
    """Jensen-Shannon distance (base 2, between 0 and 1) of two count vectors' shares."""
    from scipy.special import rel_entr

    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2.0
    js = (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / np.log(2.0)
    return float(np.sqrt(max(js, 0.0) / 2.0))
