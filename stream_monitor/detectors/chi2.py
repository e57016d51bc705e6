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
from scipy import stats

__all__ = ["chi2_homogeneity"]


def chi2_homogeneity(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Return (chi-square statistic, p-value)."""
    keep = (reference + window) > 0
    table = np.vstack([reference[keep], window[keep]]).astype(float)
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)
