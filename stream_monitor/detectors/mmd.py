"""Maximum mean discrepancy between a window and the reference sample, over all
numeric features at once.

With random Fourier features ``z`` (see :mod:`stream_monitor.windows.embedding`)
the squared MMD of a Gaussian kernel is ``T = ||mean z(window) - mean z(ref)||^2``.
Under no change the difference of the two means is about normal with covariance
``Sigma * (1/n + 1/m)`` (``Sigma`` the covariance of ``z`` on the reference
sample of ``m`` rows), so ``T`` is a weighted sum of chi-square variables with
mean ``c tr(Sigma)`` and variance ``2 c^2 ||Sigma||_F^2``, ``c = 1/n + 1/m``.
The p-value comes from the gamma distribution with those two moments
(Satterthwaite 1946), which needs no permutations: O(D) per window.

The effect size is ``sqrt(T)``, the MMD itself (0 to about 1.4).

Examples
--------
>>> import numpy as np
>>> ref_mean = np.zeros(4)
>>> t, p, mmd = mmd_test(np.zeros(4), 1000, ref_mean, 0.5, 0.0625, 500)
>>> t, p
(0.0, 1.0)
>>> t, p, mmd = mmd_test(np.full(4, 0.1), 1000, ref_mean, 0.5, 0.0625, 500)
>>> round(t, 2), p < 1e-6, round(mmd, 2)
(0.04, True, 0.2)

References
----------
Gretton, A. et al. (2012). A kernel two-sample test. JMLR 13, 723-773.
Rahimi, A. and Recht, B. (2007). Random features for large-scale kernel machines. NeurIPS.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["mmd_test"]


def mmd_test(
    window_mean: np.ndarray, n: int, ref_mean: np.ndarray, ref_trace: float, ref_frob2: float, m: int
) -> tuple[float, float, float]:
    """Return (MMD^2 estimate, p-value, MMD) for a window mean feature of ``n`` rows."""
    if n < 2 or m < 2:
        return 0.0, 1.0, 0.0
    diff = np.asarray(window_mean, dtype=float) - ref_mean
    t = float(diff @ diff)
    c = 1.0 / n + 1.0 / m
    mean, var = c * ref_trace, 2.0 * c * c * ref_frob2
    if t == 0.0 or mean <= 0 or var <= 0:
        return t, 1.0 if t == 0.0 else 0.0, math.sqrt(t)
    p = float(special.gammaincc(mean * mean / var, t / (var / mean)))  # stats.gamma.sf, bit for bit
    return t, min(max(p, 0.0), 1.0), math.sqrt(t)
