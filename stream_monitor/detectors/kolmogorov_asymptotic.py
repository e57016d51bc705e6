# Adapted from SciPy 1.17.1, ``scipy/stats/_ksstats.py``:
# Copyright (c) 2001-2002 Enthought, Inc. 2003, SciPy Developers. All rights reserved.
# Redistribution and use in source and binary forms, with or without modification, are
# permitted under the BSD 3-Clause License (the full text ships with SciPy, LICENSE.txt):
# retain this notice; neither the names of the copyright holders nor of the contributors
# may be used to endorse products derived from this software without prior permission.
# THIS SOFTWARE IS PROVIDED "AS IS", WITHOUT ANY EXPRESS OR IMPLIED WARRANTIES.

"""The Pelz-Good approximation of the Kolmogorov distribution for large ``n`` and its clip to
[0, 1], as SciPy computes them (see :mod:`.kolmogorov`), on Python floats.

SciPy evaluates the four Pelz-Good sums K0 to K3 as numpy vectors of four elements and
clips with ``np.clip``; here each is a Python float, with the same floating-point operations
in the same order (there is no fused multiply-add in either). The exponentials and powers
come from the same numpy ufuncs (one call for the two exponentials, one for all powers:
each element is computed alone, as in SciPy's scalar calls), the integer powers of ``z``
from the C library's ``pow`` as numpy's scalar ``**`` does, and the sums over ``k`` add in
:func:`numpy.sum`'s order (:func:`_np_sum`). So the numbers are the same bit for bit:
``tests/unit/detectors/test_kolmogorov.py`` compares them with ``scipy.stats.kstwo.sf``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["_clip", "_kolmogn_PelzGood", "_select_and_clip"]

_SQRT2PI = float(np.sqrt(2 * np.pi))
_MIN_LOG = -708
_SQRT3 = float(np.sqrt(3))
_PI_SQUARED = np.pi ** 2
_PI_FOUR = np.pi ** 4
_PI_SIX = np.pi ** 6


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
        return _select_and_clip(0.0, 1.0, cdf)
    if x >= 1.0:
        return _select_and_clip(1.0, 0.0, cdf)

    z = math.sqrt(n) * x
    zsquared = z**2

    qlog = -_PI_SQUARED / 8 / zsquared
    if qlog < _MIN_LOG:  # z ~ 0.041743441416853426
        return _select_and_clip(0.0, 1.0, cdf)

    maxk = math.ceil(16 * z / math.pi)
    q, q2 = np.exp([qlog, -_PI_SQUARED / 2 / zsquared]).tolist()
    powers = np.power([[q], [q2]], _exponents(maxk)).tolist()
    K0, K1, K2, K3 = _pelz_good_odd_sums(z, q, powers[0])
    K2, K3 = _pelz_good_integer_sums(K2, K3, z, powers[1])
    root_n, n_one, n_three_halves = _powers_of_n(n)
    K1, K2, K3 = K1 / root_n, K2 / n_one, K3 / n_three_halves

    if not cdf:
        K0, K1, K2, K3 = K0 * -1, K1 * -1, K2 * -1, K3 * -1
        K0 += 1

    return 0 + K0 + K1 + K2 + K3


@functools.lru_cache(maxsize=64)
def _exponents(maxk: int) -> np.ndarray:
    """``8 k`` (first row) and ``k**2`` (second row) for ``k = maxk, ..., 1``."""
    ks = np.arange(maxk, 0, -1)
    out = np.array([8 * ks, ks**2], dtype=float)
    out.setflags(write=False)
    return out


@functools.lru_cache(maxsize=256)
def _powers_of_n(n: Any) -> tuple[float, float, float]:
    """``n**0.5``, ``n**1`` and ``n**1.5`` as SciPy's Pelz-Good computes them."""
    powers = np.power(n * 1.0, np.arange(4) / 2.0).tolist()
    return powers[1], powers[2], powers[3]


def _pelz_good_odd_sums(z: float, q: float, qpowers: list[float]) -> tuple[float, float, float, float]:
    """K0 to K3 over the odd integers (a Horner scheme in ``q``; ``qpowers[i]`` is
    ``q**(8 k)`` for ``k = maxk - i``)."""
    zsquared, zfour, zsix = z**2, z**4, z**6
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

    K0 = K1 = K2 = K3 = 0.0
    # Use a Horner scheme to evaluate sum c_i q^(i^2)
    # Reduces to a sum over odd integers.
    for k, qpower in zip(range(len(qpowers), 0, -1), qpowers, strict=True):
        m = 2 * k - 1
        msquared, mfour, msix = m**2, m**4, m**6
        K0 = K0 * qpower + 1.0
        K1 = K1 * qpower + (k1a + k1b*msquared)
        K2 = K2 * qpower + (k2a + k2b*msquared + k2c*mfour)
        K3 = K3 * qpower + (k3a + k3b*msquared + k3c*mfour + k3d*msix)
    # z**10 > 0 as z > 0.04
    return (K0 * q * _SQRT2PI / z, K1 * q * _SQRT2PI / (6 * zfour), K2 * q * _SQRT2PI / (72 * z**7),
            K3 * q * _SQRT2PI / (6480 * z**10))


def _pelz_good_integer_sums(K2: float, K3: float, z: float, qpwers: list[float]) -> tuple[float, float]:
    """K2 and K3 plus their terms that sum over all integers (``qpwers[i]`` is
    ``q**(k**2)`` for ``k = maxk - i``)."""
    # Now do the other sum over the other terms, all integers k
    # K_2:  (pi^2 k^2) q^(k^2),
    # K_3:  (3pi^2 k^2 z^2 - pi^4 k^4)*q^(k^2)
    # Don't expect much subtractive cancellation so use direct calculation
    ks = range(len(qpwers), 0, -1)
    sqrt3z = _SQRT3 * z
    k2extra = _np_sum([k * k * qp for k, qp in zip(ks, qpwers, strict=True)])
    k2extra *= _PI_SQUARED * _SQRT2PI/(-36 * z**3)
    k3extra = _np_sum([(sqrt3z + math.pi * k) * (sqrt3z - math.pi * k) * (k * k) * qp
                       for k, qp in zip(ks, qpwers, strict=True)])
    k3extra *= _PI_SQUARED * _SQRT2PI/(216 * z**6)
    return K2 + k2extra, K3 + k3extra


def _np_sum(values: list[float]) -> float:
    """``float(np.sum(values))``, added in numpy's order: one by one below 8 values, else
    eight interleaved partial sums (numpy's pairwise sum of a block of up to 128)."""
    size = len(values)
    if size < 8:
        total = 0.0
        for v in values:
            total += v
        return total
    if size > 128:
        return float(np.sum(values))
    r = values[:8]
    i = 8
    while i < size - size % 8:
        for j in range(8):
            r[j] += values[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for v in values[i:]:
        total += v
    return 0.0 + total


def _clip(p: float) -> float:
    """``np.clip(p, 0.0, 1.0)`` of one float: NaN stays NaN, -0.0 becomes 0.0."""
    if p != p:
        return p
    p = p if p > 0.0 else 0.0
    return p if p < 1.0 else 1.0


def _select_and_clip(cdfprob: Any, sfprob: Any, cdf: bool) -> float:
    """Selects either the CDF or SF, and then clips to range 0<=p<=1 (:func:`_clip`)."""
    return _clip(float(cdfprob if cdf else sfprob))
