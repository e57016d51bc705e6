"""Distance thresholds calibrated on the reference, per feature and window size.

A fixed PSI of 0.2 means different things on 100 and on 100,000 events: on
small windows sampling noise alone exceeds it, on large ones it hides real
change. Here the threshold of a distance test is the ``quantile`` of its null
distribution for a window of ``n`` values, estimated by a parametric bootstrap
of the reference histogram:

1. draw a plausible "true" distribution ``p* ~ Multinomial(N_ref, p_ref) / N_ref``
   (so the reference's own sampling noise is accounted for, as the chi-square
   test of homogeneity does),
2. draw a window ``w ~ Multinomial(n, p*)`` and compute the statistic against
   the reference counts,
3. repeat ``resamples`` times, vectorised, and take the quantile.

Quantiles beyond what the resamples resolve (``1 - 10 / resamples``) are
extrapolated from a gamma distribution moment-matched to
``statistic ** null_power`` (about chi-square for every distance here), never
below the resolved empirical quantile. The result is a pure function of the
reference counts, ``n``, the quantile and the seed, and is cached in memory.
Window sizes are rounded down to a geometric grid (steps of 2^(1/16), about 4%)
so windows of similar size share a threshold; rounding down is conservative.

The decision threshold is ``max(calibrated, floor)`` where the floor is the
configured threshold: the calibrated part keeps small windows quiet, the floor
is the smallest change worth an alert on very large windows.

Examples
--------
>>> import numpy as np
>>> from stream_monitor.detectors.registry import get_test
>>> ref = np.full(10, 1000)
>>> cal = Calibrator(resamples=2000, seed=0)
>>> psi_test = get_test("psi", "categorical")
>>> small = cal.threshold("x", psi_test, ref, None, 100, 0.995)
>>> large = cal.threshold("x", psi_test, ref, None, 10_000, 0.995)
>>> small > 0.2 > large > 0
True
>>> cal.threshold("x", psi_test, ref, None, 100, 0.995) == small  # cached, deterministic
True
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from typing import Any

import numpy as np
from scipy import special

from stream_monitor.detectors.base import WindowTest

__all__ = ["Calibrator", "calibrated_quantile", "grid_size", "null_statistics"]

# The power at which each statistic is roughly chi-square distributed under no change.
_NULL_POWER = {"psi": 1.0, "jensen_shannon": 2.0, "hellinger": 2.0, "wasserstein": 2.0, "unseen_share": 2.0}


def grid_size(n: int) -> int:
    """Round ``n`` down to the calibration grid ``floor(2 ** (k / 16))`` (exact below 16).

    >>> [grid_size(n) for n in (10, 16, 1000, 1024, 5000)]
    [10, 16, 980, 1024, 4870]
    """
    if n < 16:
        return max(n, 1)
    k = math.floor(16 * math.log2(n) + 1e-9)
    return int(2 ** (k / 16))


def null_statistics(
    test: WindowTest, reference: np.ndarray, profile: Any, n: int, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The statistic of ``test`` on ``resamples`` bootstrap windows of ``n`` values."""
    assert test.batch is not None
    m = int(reference.sum())
    p = reference / max(m, 1)
    p_star = rng.multinomial(m, p, size=resamples) / max(m, 1)
    windows = rng.multinomial(n, p_star)
    return np.asarray(test.batch(reference, windows, profile), dtype=float)


def calibrated_quantile(values: np.ndarray, quantile: float, power: float = 1.0) -> float:
    """The ``quantile`` of ``values``, extrapolated by a gamma fit beyond their resolution."""
    resolved = min(quantile, 1.0 - 10.0 / values.size)
    empirical = float(np.quantile(values, resolved))
    if resolved >= quantile:
        return empirical
    t = values**power
    mean, var = float(t.mean()), float(t.var())
    if mean <= 0 or var <= 0:
        return empirical
    shape, scale = mean * mean / var, var / mean
    tail: float = float(special.gammaincinv(shape, quantile) * scale) ** (1.0 / power)  # stats.gamma.ppf
    return max(empirical, tail)


class Calibrator:
    """Calibrated distance thresholds of one reference, cached per (feature, test, size).

    Parameters
    ----------
    resamples
        Bootstrap windows per (feature, test, size); 2000 keeps a calibration
        under ~20 ms per feature.
    seed
        Makes the thresholds reproducible; mixed with the feature, test and size.
    max_entries
        Bound of the in-memory cache.
    """

    def __init__(self, *, resamples: int = 2000, seed: int = 0, max_entries: int = 4096) -> None:
        if resamples < 100:
            raise ValueError("resamples must be at least 100")
        self.resamples = resamples
        self.seed = seed
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str, int, float], float] = OrderedDict()

    def threshold(
        self, feature: str, test: WindowTest, reference: np.ndarray, profile: Any, n: int, quantile: float
    ) -> float:
        """The calibrated threshold of ``test`` on ``feature`` for a window of ``n`` values."""
        size = grid_size(n)
        key = (feature, test.name, size, quantile)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        salt = zlib.crc32(f"{feature}\x00{test.name}".encode())
        rng = np.random.default_rng([self.seed, salt, size])
        values = null_statistics(test, reference, profile, size, self.resamples, rng)
        value = calibrated_quantile(values, quantile, _NULL_POWER.get(test.name, 1.0))
        self._cache[key] = value
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return value
