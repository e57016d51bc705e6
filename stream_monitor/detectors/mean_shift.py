"""Mean shift: a two-sample z-test on the window's running moments.

The window keeps the sum and sum of squares of its values, the reference
profile its mean and standard deviation, so the test costs O(1) per window.
The standard error uses the window's own variance (a Welch-type test), so a
change of spread alone does not make the mean look shifted. With windows of
hundreds of values the central limit theorem makes the z statistic close to
normal even for skewed features.

The effect size is Cohen's d against the reference: ``|mean_w - mean_r| / sd_r``.

Examples
--------
>>> z, p, d = mean_shift_test(10.2, 4.0, 1000, 10.0, 2.0, 20_000)
>>> round(z, 2), p < 0.01, round(d, 2)
(3.09, True, 0.1)
>>> mean_shift_test(10.0, 4.0, 1000, 10.0, 2.0, 20_000)
(0.0, 1.0, 0.0)
"""

from __future__ import annotations

import math

from scipy import special

__all__ = ["mean_shift_test"]


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
