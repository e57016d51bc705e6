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
compares it with ``scipy.stats.kstwo.sf``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.special

from stream_monitor.detectors.kolmogorov_exact import (
    _clip_prob,
    _kolmogn_DMTW,
    _kolmogn_Pomeranz,
    _select_and_clip_prob,
)

__all__ = ["kstwo_sf"]

_SQRT2PI = np.sqrt(2 * np.pi)
_LOG_2PI = np.log(2 * np.pi)
_MIN_LOG = -708
_SQRT3 = np.sqrt(3)
_PI_SQUARED = np.pi ** 2
_PI_FOUR = np.pi ** 4
_PI_SIX = np.pi ** 6

# [Lifted from _loggamma.pxd.] If B_m are the Bernoulli numbers,
# then Stirling coeffs are B_{2j}/(2j)/(2j-1) for j=8,...1.
_STIRLING_COEFFS = [-2.955065359477124183e-2, 6.4102564102564102564e-3,
                    -1.9175269175269175269e-3, 8.4175084175084175084e-4,
                    -5.952380952380952381e-4, 7.9365079365079365079e-4,
                    -2.7777777777777777778e-3, 8.3333333333333333333e-2]


def kstwo_sf(d: float, n: int) -> float:
    """``scipy.stats.kstwo.sf(d, n)``: the chance that the two-sided statistic of ``n``
    observations reaches ``d`` when they follow the reference."""
    return float(_kolmogn(n, d, cdf=False))


def _log_nfactorial_div_n_pow_n(n: Any) -> Any:
    # Computes n! / n**n
    #    = (n-1)! / n**(n-1)
    # Uses Stirling's approximation, but removes n*log(n) up-front to
    # avoid subtractive cancellation.
    #    = log(n)/2 - n + log(sqrt(2pi)) + sum B_{2j}/(2j)/(2j-1)/n**(2j-1)
    rn = 1.0/n
    return np.log(n)/2 - n + _LOG_2PI/2 + rn * np.polyval(_STIRLING_COEFFS, rn/n)


def _kolmogn_PelzGood(n: Any, x: Any, cdf: bool = True) -> Any:
    """Computes the Pelz-Good approximation to Prob(Dn <= x) with 0<=x<=1.

    Start with Li-Chien, Korolyuk approximation:
        Prob(Dn <= x) ~ K0(z) + K1(z)/sqrt(n) + K2(z)/n + K3(z)/n**1.5
    where z = x*sqrt(n).
    Transform each K_(z) using Jacobi theta functions into a form suitable
    for small z.
    Pelz-Good (1976). [6]
    """
    if x <= 0.0:
        return _select_and_clip_prob(0.0, 1.0, cdf=cdf)
    if x >= 1.0:
        return _select_and_clip_prob(1.0, 0.0, cdf=cdf)

    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6

    qlog = -_PI_SQUARED / 8 / zsquared
    if qlog < _MIN_LOG:  # z ~ 0.041743441416853426
        return _select_and_clip_prob(0.0, 1.0, cdf=cdf)

    q = np.exp(qlog)
    K0to3, maxk = _pelz_good_odd_sums(z, zsquared, zfour, zsix, q)
    _pelz_good_integer_sums(K0to3, z, zsquared, zthree, zsix, maxk)
    powers_of_n = np.power(n * 1.0, np.arange(len(K0to3)) / 2.0)
    K0to3 /= powers_of_n

    if not cdf:
        K0to3 *= -1
        K0to3[0] += 1

    Ksum = sum(K0to3)
    return Ksum


def _pelz_good_odd_sums(z: Any, zsquared: Any, zfour: Any, zsix: Any, q: Any) -> tuple[Any, int]:
    """K0 to K3 over the odd integers (a Horner scheme in ``q``), and the number of terms."""
    # Coefficients of terms in the sums for K1, K2 and K3
    k1a = -zsquared
    k1b = _PI_SQUARED / 4

    k2a = 6 * zsix + 2 * zfour
    k2b = (2 * zfour - 5 * zsquared) * _PI_SQUARED / 4
    k2c = _PI_FOUR * (1 - 2 * zsquared) / 16

    k3d = _PI_SIX * (5 - 30 * zsquared) / 64
    k3c = _PI_FOUR * (-60 * zsquared + 212 * zfour) / 16
    k3b = _PI_SQUARED * (135 * zfour - 96 * zsix) / 4
    k3a = -30 * zsix - 90 * z**8

    K0to3 = np.zeros(4)
    # Use a Horner scheme to evaluate sum c_i q^(i^2)
    # Reduces to a sum over odd integers.
    maxk = int(np.ceil(16 * z / np.pi))
    for k in range(maxk, 0, -1):
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        qpower = np.power(q, 8 * k)
        coeffs = np.array([1.0,
                           k1a + k1b*msquared,
                           k2a + k2b*msquared + k2c*mfour,
                           k3a + k3b*msquared + k3c*mfour + k3d*msix])
        K0to3 *= qpower
        K0to3 += coeffs
    K0to3 *= q
    K0to3 *= _SQRT2PI
    # z**10 > 0 as z > 0.04
    K0to3 /= np.array([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    return K0to3, maxk


def _pelz_good_integer_sums(K0to3: Any, z: Any, zsquared: Any, zthree: Any, zsix: Any, maxk: int) -> None:
    """Add the terms of K2 and K3 that sum over all integers to ``K0to3``."""
    # Now do the other sum over the other terms, all integers k
    # K_2:  (pi^2 k^2) q^(k^2),
    # K_3:  (3pi^2 k^2 z^2 - pi^4 k^4)*q^(k^2)
    # Don't expect much subtractive cancellation so use direct calculation
    q = np.exp(-_PI_SQUARED / 2 / zsquared)
    ks = np.arange(maxk, 0, -1)
    ksquared = ks ** 2
    sqrt3z = _SQRT3 * z
    kspi = np.pi * ks
    qpwers = q ** ksquared
    k2extra = np.sum(ksquared * qpwers)
    k2extra *= _PI_SQUARED * _SQRT2PI/(-36 * zthree)
    K0to3[2] += k2extra
    k3extra = np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpwers)
    k3extra *= _PI_SQUARED * _SQRT2PI/(216 * zsix)
    K0to3[3] += k3extra


def _kolmogn(n: Any, x: Any, cdf: bool = True) -> Any:
    """Computes the CDF(or SF) for the two-sided Kolmogorov-Smirnov statistic.

    x must be of type float, n of type integer.

    Simard & L'Ecuyer (2011) [7].
    """
    if np.isnan(n):
        return n  # Keep the same type of nan
    if int(n) != n or n <= 0:
        return np.nan
    if x >= 1.0:
        return _select_and_clip_prob(1.0, 0.0, cdf=cdf)
    if x <= 0.0:
        return _select_and_clip_prob(0.0, 1.0, cdf=cdf)
    t = n * x
    if t <= 1.0:  # Ruben-Gambino: 1/2n <= x <= 1/n
        if t <= 0.5:
            return _select_and_clip_prob(0.0, 1.0, cdf=cdf)
        if n <= 140:
            prob = np.prod(np.arange(1, n+1) * (1.0/n) * (2*t - 1))
        else:
            prob = np.exp(_log_nfactorial_div_n_pow_n(n) + n * np.log(2*t-1))
        return _select_and_clip_prob(prob, 1.0 - prob, cdf=cdf)
    if t >= n - 1:  # Ruben-Gambino
        prob = 2 * (1.0 - x)**n
        return _select_and_clip_prob(1 - prob, prob, cdf=cdf)
    if x >= 0.5:  # Exact: 2 * smirnov
        prob = 2 * scipy.special.smirnov(n, x)
        return _select_and_clip_prob(1.0 - prob, prob, cdf=cdf)

    nxsquared = t * x
    if n <= 140:
        return _kolmogn_small_n(n, x, nxsquared, cdf)
    return _kolmogn_large_n(n, x, nxsquared, cdf)


def _kolmogn_small_n(n: Any, x: Any, nxsquared: Any, cdf: bool) -> Any:
    """:func:`_kolmogn` for ``n <= 140`` where neither Ruben-Gambino nor the exact 2 smirnov applies."""
    if nxsquared <= 0.754693:
        prob = _kolmogn_DMTW(n, x, cdf=True)
        return _select_and_clip_prob(prob, 1.0 - prob, cdf=cdf)
    if nxsquared <= 4:
        prob = _kolmogn_Pomeranz(n, x, cdf=True)
        return _select_and_clip_prob(prob, 1.0 - prob, cdf=cdf)
    # Now use Miller approximation of 2*smirnov
    prob = 2 * scipy.special.smirnov(n, x)
    return _select_and_clip_prob(1.0 - prob, prob, cdf=cdf)


def _kolmogn_large_n(n: Any, x: Any, nxsquared: Any, cdf: bool) -> Any:
    """:func:`_kolmogn` for ``n > 140`` where neither Ruben-Gambino nor the exact 2 smirnov applies."""
    # Split CDF and SF as they have different cutoffs on nxsquared.
    if not cdf:
        if nxsquared >= 370.0:
            return 0.0
        if nxsquared >= 2.2:
            prob = 2 * scipy.special.smirnov(n, x)
            return _clip_prob(prob)
        # Fall through and compute the SF as 1.0-CDF
    if nxsquared >= 18.0:
        cdfprob = 1.0
    elif n <= 100000 and n * x**1.5 <= 1.4:
        cdfprob = _kolmogn_DMTW(n, x, cdf=True)
    else:
        cdfprob = _kolmogn_PelzGood(n, x, cdf=True)
    return _select_and_clip_prob(cdfprob, 1.0 - cdfprob, cdf=cdf)
