# Adapted from SciPy 1.17.1, ``scipy/stats/_ksstats.py``:
# Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy Developers. All rights reserved.
# Redistribution and use in source and binary forms, with or without modification, are
# permitted under the BSD 3-Clause License (the full text ships with SciPy, LICENSE.txt):
# retain this notice; neither the names of the copyright holders nor of the contributors
# may be used to endorse products derived from this software without prior permission.
# THIS SOFTWARE IS PROVIDED "AS IS", WITHOUT ANY EXPRESS OR IMPLIED WARRANTIES.

"""``scipy.stats.kstwo.sf(d, n)``, the two-sided one-sample Kolmogorov-Smirnov survival
function, without importing :mod:`scipy.stats`.

The window KS test needs only this function, but :mod:`scipy.stats` (which the routine
lives in) costs a worker about 46 MB of resident memory at import (numpy 25 MB,
``scipy.special`` 51 MB, ``scipy.stats`` 98 MB, measured with ``/proc/self/statm`` on
Python 3.11 and SciPy 1.17). This is SciPy's implementation (Simard and L'Ecuyer, 2011:
Ruben-Gambino, exact ``2 smirnov``, the Durbin matrix, the Pomeranz recursion and the
Pelz-Good approximation, each where it is accurate), SciPy's lines in SciPy's order, cut
into functions of a screen each (the same floating-point operations in the same order), so
that the numbers are the same bit for bit; ``tests/unit/detectors/test_kolmogorov.py``
compares it with ``scipy.stats.kstwo.sf``. The Pelz-Good approximation (the sum a window
test of a thousand values usually takes) and the clip of a probability to [0, 1] run on
Python floats instead of numpy scalars (:mod:`.kolmogorov_asymptotic`), the same operations
in the same order.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.special

from stream_monitor.detectors.kolmogorov_asymptotic import _clip, _kolmogn_PelzGood, _select_and_clip
from stream_monitor.detectors.kolmogorov_exact import _kolmogn_DMTW, _kolmogn_Pomeranz

__all__ = ["kstwo_sf"]

_LOG_2PI = np.log(2 * np.pi)

# [Lifted from _loggamma.pxd.] If B_m are the Bernoulli numbers,
# then Stirling coeffs are B_{2j}/(2j)/(2j-1) for j=8,...1.
_STIRLING_COEFFS = [-2.955065359477124183e-2, 6.4102564102564102564e-3,
                    -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                    -5.952380952380952381e-4, 7.9365079365079365079e-4,
                    -2.7777777777777777778e-3, 8.3333333333333333333e-2]


def kstwo_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: the chance that the two-sided statistic of ``n``
    observations reaches ``d`` when they follow the reference.

    A pure function of ``(d, n)``, kept for the last 4096 pairs: windows of one size compared
    with one reference take their statistic from a lattice of bin shares, so the same
    ``d`` recurs, and the exact branches (the Durbin matrix, ``2 smirnov``) cost about a
    millisecond a call at window sizes of a thousand.
    """
    return _kstwo_sf(d, n)


@functools.lru_cache(maxsize=4096)
def _kstwo_sf(d: float, n: int) -> float:
    return float(_kolmogn(n, d, cdf=False))


def _log_nfactorial_div_n_pow_n(n: Any) -> Any:
    # Computes n! / n**n
    #    = (n-1)! / n**(n-1)
    # Uses Stirling's approximation, but removes n*log(n) up-front to
    # avoid subtractive cancellation.
    #    = log(n)/2 - n + log(sqrt(2pi)) + sum B_{2j}/(2j)/(2j-1)/n**(2j-1)
    rn = 1.0/n
    return np.log(n)/2 - n + _LOG_2PI/2 + rn * np.polyval(_STIRLING_COEFFS, rn/n)


def _kolmogn(n: Any, x: Any, cdf: bool = True) -> Any:
    """Computes the CDF(or SF) for the two-sided Kolmogorov-Smirnov statistic.

    x must be of type float, n of type integer.

    Simard & L'Ecuyer (2011) [7].
    """
    if n != n:  # np.isnan(n) of a scalar
        return n  # Keep the same type of nan
    if int(n) != n or n <= 0:
        return np.nan
    if x >= 1.0:
        return _select_and_clip(1.0, 0.0, cdf)
    if x <= 0.0:
        return _select_and_clip(0.0, 1.0, cdf)
    t = n * x
    if t <= 1.0:  # Ruben-Gambino: 1/2n <= x <= 1/n
        if t <= 0.5:
            return _select_and_clip(0.0, 1.0, cdf)
        if n <= 140:
            prob = np.prod(np.arange(1, n+1) * (1.0/n) * (2*t - 1))
        else:
            prob = np.exp(_log_nfactorial_div_n_pow_n(n) + n * np.log(2*t-1))
        return _select_and_clip(prob, 1.0 - prob, cdf)
    if t >= n - 1:  # Ruben-Gambino
        prob = 2 * (1.0 - x)**n
        return _select_and_clip(1 - prob, prob, cdf)
    if x >= 0.5:  # Exact: 2 * smirnov
        prob = 2 * scipy.special.smirnov(n, x)
        return _select_and_clip(1.0 - prob, prob, cdf)

    nxsquared = t * x
    if n <= 140:
        return _kolmogn_small_n(n, x, nxsquared, cdf)
    return _kolmogn_large_n(n, x, nxsquared, cdf)


def _kolmogn_small_n(n: Any, x: Any, nxsquared: Any, cdf: bool) -> Any:
    """:func:`_kolmogn` for ``n <= 140`` where neither Ruben-Gambino nor the exact 2 smirnov applies."""
    if nxsquared <= 0.754693:
        prob = _kolmogn_DMTW(n, x, cdf=True)
        return _select_and_clip(prob, 1.0 - prob, cdf)
    if nxsquared <= 4:
        prob = _kolmogn_Pomeranz(n, x, cdf=True)
        return _select_and_clip(prob, 1.0 - prob, cdf)
    # Now use Miller approximation of 2*smirnov
    prob = 2 * scipy.special.smirnov(n, x)
    return _select_and_clip(1.0 - prob, prob, cdf)


def _kolmogn_large_n(n: Any, x: Any, nxsquared: Any, cdf: bool) -> Any:
    """:func:`_kolmogn` for ``n > 140`` where neither Ruben-Gambino nor the exact 2 smirnov applies."""
    # Split CDF and SF as they have different cutoffs on nxsquared.
    if not cdf:
        if nxsquared >= 370.0:
            return 0.0
        if nxsquared >= 2.2:
            prob = 2 * scipy.special.smirnov(n, x)
            return _clip(float(prob))
        # Fall through and compute the SF as 1.0-CDF
    if nxsquared >= 18.0:
        cdfprob = 1.0
    elif n <= 100000 and n * x**1.5 <= 1.4:
        cdfprob = _kolmogn_DMTW(n, x, cdf=True)
    else:
        cdfprob = _kolmogn_PelzGood(n, x, cdf=True)
    return _select_and_clip(cdfprob, 1.0 - cdfprob, cdf)
