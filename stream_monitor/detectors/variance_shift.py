"""Variance shift: a kurtosis-robust test of the log variance ratio.

The classical F test of two variances assumes normal data and fires far too
often on heavy-tailed features (an amount with excess kurtosis 50 would alarm
in most windows). Instead we test ``log(s_w^2 / s_r^2)``, whose variance for
large samples is ``(2 + kappa) / n`` per sample with ``kappa`` the excess
kurtosis (delta method; Box 1953 for the non-normal F test). ``kappa`` comes
from the reference profile (0 when the profile predates it).

The effect size is ``|log(sd_w / sd_r)|``: 0.095 is a 10% change of spread.

Limits: on very heavy tails the sample kurtosis underestimates the true one
and the log variance is left-skewed in small windows, so the test is somewhat
liberal there (about 3.5% false alarms at alpha = 1% for a lognormal feature
with sigma 0.9, windows of 1000; the unit tests pin this). It is not in the
default test set; KS already sees spread changes.

Examples
--------
>>> z, p, e = variance_shift_test(4.0, 1000, 1.0, 20_000, 0.0)
>>> round(z, 1), p < 1e-10, round(e, 3)
(30.2, True, 0.693)
>>> z, p, e = variance_shift_test(1.2, 1000, 1.0, 20_000, 50.0)  # heavy tails: 20% more variance is noise
>>> round(z, 2), p > 0.05
(0.78, True)
"""

from __future__ import annotations

import math

from scipy import special

__all__ = ["variance_shift_test"]


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
