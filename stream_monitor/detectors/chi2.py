"""Chi-square test of homogeneity between reference and window category counts.

The reference is itself a sample, so this is the 2 x K contingency test (not a
goodness-of-fit test against fixed shares): it accounts for the reference size.
Categories empty on both sides are dropped.

Examples
--------
>>> import numpy as np
>>> stat, p = chi2_homogeneity(np.array([500, 300, 200, 0]), np.array([50, 30, 20, 0]))
>>> round(stat, 6), round(p, 6)
(0.0, 1.0)
>>> stat, p = chi2_homogeneity(np.array([500, 300, 200, 0]), np.array([20, 30, 50, 0]))
>>> p < 1e-6
True
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["chi2_homogeneity", "cohens_w"]


def chi2_homogeneity(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Return (chi-square statistic, p-value)."""
    keep = (reference + window) > 0
    table = np.vstack([reference[keep], window[keep]]).astype(float)
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, 1.0
    # What ``scipy.stats.chi2_contingency(table, correction=False)`` computes, bit
    # for bit (a test checks), without its ~200 us of argument handling per call.
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = ((table - expected) ** 2 / expected).sum()
    return float(stat), float(special.chdtrc(float(table.shape[1] - 1), stat))


def cohens_w(reference: np.ndarray, window: np.ndarray) -> float:
    """Effect size of a change of category shares: ``sqrt(sum (q - p)^2 / p)``.

    Cohen (1988): 0.1 small, 0.3 medium, 0.5 large. Unlike the chi-square
    statistic it does not grow with the window size. Reference shares are
    floored at half a count so a category the reference never saw stays finite.
    """
    m, n = reference.sum(), window.sum()
    if m == 0 or n == 0:
        return 0.0
    keep = (reference + window) > 0
    p = np.maximum(reference[keep] / m, 0.5 / m)
    q = window[keep] / n
    return float(np.sqrt(np.sum((q - p) ** 2 / p)))
