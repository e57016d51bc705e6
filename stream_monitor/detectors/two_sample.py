"""Two-sample tests of a window against the reference, each with a p-value and an effect size.

The window tests of ``kind`` ``pvalue`` (and the multivariate MMD test) decide
by the p-value; the effect size must also reach a floor, so that huge windows
do not flag practically irrelevant shifts.

Kolmogorov-Smirnov on binned counts (:func:`ks_binned`)
    D is the largest gap between the two empirical CDFs evaluated at the bin
    edges. With the reference sorted once into quantile bins (50 by default),
    this costs O(bins) per window instead of re-sorting both samples, and D is
    a lower bound of the exact statistic that is within ~1/bins of it. The
    p-value is the asymptotic one scipy's ``ks_2samp`` uses (``kstwo`` at the
    effective sample size ``n*m/(n+m)``), so the test is slightly conservative
    on coarse bins. The effect size is D.
Chi-square test of homogeneity of category counts (:func:`chi2_homogeneity`)
    The reference is itself a sample, so this is the 2 x K contingency test
    (not a goodness-of-fit test against fixed shares): it accounts for the
    reference size. Categories empty on both sides are dropped. The effect
    size is Cohen's w (:func:`cohens_w`).
Mean shift: a two-sample z-test on the window's running moments (:func:`mean_shift_test`)
    The window keeps the sum and sum of squares of its values, the reference
    profile its mean and standard deviation, so the test costs O(1) per
    window. The standard error uses the window's own variance (a Welch-type
    test), so a change of spread alone does not make the mean look shifted.
    With windows of hundreds of values the central limit theorem makes the z
    statistic close to normal even for skewed features. The effect size is
    Cohen's d against the reference: ``|mean_w - mean_r| / sd_r``.
Variance shift: a kurtosis-robust test of the log variance ratio (:func:`variance_shift_test`)
    The classical F test of two variances assumes normal data and fires far
    too often on heavy-tailed features (an amount with excess kurtosis 50
    would alarm in most windows). Instead we test ``log(s_w^2 / s_r^2)``,
    whose variance for large samples is ``(2 + kappa) / n`` per sample with
    ``kappa`` the excess kurtosis (delta method; Box 1953 for the non-normal F
    test). ``kappa`` comes from the reference profile (0 when the profile
    predates it). The effect size is ``|log(sd_w / sd_r)|``: 0.095 is a 10%
    change of spread.

    Limits: on very heavy tails the sample kurtosis underestimates the true
    one and the log variance is left-skewed in small windows, so the test is
    somewhat liberal there (about 3.5% false alarms at alpha = 1% for a
    lognormal feature with sigma 0.9, windows of 1000; the unit tests pin
    this). It is not in the default test set; KS already sees spread changes.
Maximum mean discrepancy over all numeric features at once (:func:`mmd_test`)
    With random Fourier features ``z`` (see :mod:`stream_monitor.windows.embedding`)
    the squared MMD of a Gaussian kernel is ``T = ||mean z(window) - mean z(ref)||^2``.
    Under no change the difference of the two means is about normal with
    covariance ``Sigma * (1/n + 1/m)`` (``Sigma`` the covariance of ``z`` on the
    reference sample of ``m`` rows), so ``T`` is a weighted sum of chi-square
    variables with mean ``c tr(Sigma)`` and variance ``2 c^2 ||Sigma||_F^2``,
    ``c = 1/n + 1/m``. The p-value comes from the gamma distribution with those
    two moments (Satterthwaite 1946), which needs no permutations: O(D) per
    window. The effect size is ``sqrt(T)``, the MMD itself (0 to about 1.4).

Examples
--------
>>> import numpy as np
>>> ref = np.full(50, 200)
>>> d, p = ks_binned(ref, ref)
>>> d, p
(0.0, 1.0)
>>> d, p = ks_binned(ref, np.r_[np.full(25, 30), np.full(25, 10)])
>>> round(d, 2), p < 1e-6
(0.25, True)
>>> stat, p = chi2_homogeneity(np.array([500, 300, 200, 0]), np.array([50, 30, 20, 0]))
>>> round(stat, 6), round(p, 6)
(0.0, 1.0)
>>> stat, p = chi2_homogeneity(np.array([500, 300, 200, 0]), np.array([20, 30, 50, 0]))
>>> p < 1e-6
True
>>> z, p, d = mean_shift_test(10.2, 4.0, 1000, 10.0, 2.0, 20_000)
>>> round(z, 2), p < 0.01, round(d, 2)
(3.09, True, 0.1)
>>> mean_shift_test(10.0, 4.0, 1000, 10.0, 2.0, 20_000)
(0.0, 1.0, 0.0)
>>> z, p, e = variance_shift_test(4.0, 1000, 1.0, 20_000, 0.0)
>>> round(z, 1), p < 1e-10, round(e, 3)
(30.2, True, 0.693)
>>> z, p, e = variance_shift_test(1.2, 1000, 1.0, 20_000, 50.0)  # heavy tails: 20% more variance is noise
>>> round(z, 2), p > 0.05
(0.78, True)
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

from stream_monitor.detectors.kolmogorov import kstwo_sf

__all__ = [
    "chi2_homogeneity", "cohens_w", "ks_against", "ks_binned", "mean_shift_test", "mmd_test", "reference_cdf",
    "variance_shift_test",
]


def ks_binned(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Return (D, p-value) for two count vectors on the same ordered bins."""
    m, cdf = reference_cdf(reference)
    return ks_against(m, cdf, window)


def reference_cdf(reference: np.ndarray) -> tuple[int, np.ndarray]:
    """The reference's size and its empirical CDF at the bin edges (empty when it has no values)."""
    m = int(reference.sum())
    cdf = np.cumsum(reference) / m if m else np.zeros(0)
    return m, cdf


def ks_against(m: int, cdf: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Return (D, p-value) of ``window`` against a reference of ``m`` values with CDF ``cdf``
    (:func:`reference_cdf`)."""
    n = int(window.sum())
    if m == 0 or n == 0:
        return 0.0, 1.0
    gap = np.abs(cdf - np.cumsum(window) / n)
    d = float(gap.max())
    en = max(int(round(m * n / (m + n))), 1)
    p = kstwo_sf(d, en) if d > 0 else 1.0
    return d, min(max(p, 0.0), 1.0)


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


def mean_shift_test(
    mean_w: float, var_w: float, n_w: int, mean_r: float, sd_r: float, n_r: int
) -> tuple[float, float, float]:
    """Return (z, two-sided p-value, effect size d)."""
    if n_w < 2 or n_r < 2 or not math.isfinite(mean_w) or not math.isfinite(var_w):
        return 0.0, 1.0, 0.0
    se = math.sqrt(max(var_w, 0.0) / n_w + sd_r * sd_r / n_r)
    diff = mean_w - mean_r
    if se == 0.0:
        return 0.0, (1.0 if diff == 0 else 0.0), (0.0 if diff == 0 else math.inf)
    z = diff / se
    p = float(2 * special.ndtr(-abs(z)))  # 2 stats.norm.sf(|z|), bit for bit
    d = abs(diff) / sd_r if sd_r > 0 else (0.0 if diff == 0 else math.inf)
    return float(z), min(p, 1.0), float(d)


def variance_shift_test(
    var_w: float, n_w: int, sd_r: float, n_r: int, kurtosis_r: float | None
) -> tuple[float, float, float]:
    """Return (z, two-sided p-value, effect ``|log(sd_w / sd_r)|``)."""
    var_r = sd_r * sd_r
    if n_w < 3 or n_r < 3 or not math.isfinite(var_w) or var_w <= 0 or var_r <= 0:
        return 0.0, 1.0, 0.0
    kappa = max(kurtosis_r or 0.0, -2.0 + 1e-9)
    log_ratio = math.log(var_w / var_r)
    se = math.sqrt((2.0 + kappa) / (n_w - 1) + (2.0 + kappa) / (n_r - 1))
    z = log_ratio / se
    p = float(2 * special.ndtr(-abs(z)))  # 2 stats.norm.sf(|z|), bit for bit
    return float(z), min(p, 1.0), abs(log_ratio) / 2


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
