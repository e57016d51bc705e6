"""The root searches of the CUSUM thresholds (:mod:`stream_monitor.detectors.cusum_thresholds`).

Brent's method (:func:`brentq`), as :func:`scipy.optimize.brentq` computes it
    The thresholds are calibrated by one root search per stream over the
    reference's error in the signal's mean; :mod:`scipy.optimize` costs a worker
    about 24 MB of resident memory at import for that one function
    (``scipy.special`` 51 MB, ``scipy.optimize`` 75 MB, measured with
    ``/proc/self/statm`` on Python 3.11 and SciPy 1.17). This is SciPy's C
    routine (``scipy/optimize/Zeros/brentq.c``, by Charles Harris; SciPy is
    BSD-3-Clause licensed) step for step in Python floats, which are the same
    IEEE doubles, so the roots are the same bit for bit:
    ``tests/unit/detectors/test_kolmogorov.py`` compares them with
    :func:`scipy.optimize.brentq`.
Wald's ``theta`` (:func:`wald_thetas`, :func:`wald_theta`)
    For the increments ``y`` of a CUSUM stream, the ``theta > 0`` with
    ``E[exp(theta * y)] = 1`` on the exact reference distribution of the signal:
    it sets the stream's threshold (the Wald bound). Newton's method, for many
    shifts of the signal's mean at once.

>>> brentq(lambda x: x * x - 2.0, 0.0, 2.0, xtol=1e-12)
1.4142135623731364
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np

__all__ = ["brentq", "wald_theta", "wald_thetas"]

RTOL: Final = 4 * 2.220446049250313e-16  # scipy's default and smallest rtol: 4 machine epsilons


def brentq(f: Callable[[float], float], a: float, b: float, *, xtol: float = 2e-12, rtol: float = RTOL,
           maxiter: int = 100) -> float:
    """A root of ``f`` in ``[a, b]``, where ``f(a)`` and ``f(b)`` differ in sign; raises
    ``ValueError`` when they do not and ``RuntimeError`` without convergence in ``maxiter``."""
    if xtol <= 0 or rtol < RTOL:
        raise ValueError("xtol must be > 0 and rtol >= 4 machine epsilons")
    xpre, xcur = float(a), float(b)
    fpre, fcur = float(f(xpre)), float(f(xcur))
    if fpre * fcur > 0:
        raise ValueError("f(a) and f(b) must have different signs")
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    xblk = fblk = spre = scur = 0.0
    for _ in range(maxiter):
        if fpre * fcur < 0:
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        spre, scur = _step(xpre, xcur, xblk, fpre, fcur, fblk, spre, scur, sbis, delta)
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        fcur = float(f(xcur))
    raise RuntimeError(f"brentq failed to converge after {maxiter} iterations")


def _step(xpre: float, xcur: float, xblk: float, fpre: float, fcur: float, fblk: float,
          spre: float, scur: float, sbis: float, delta: float) -> tuple[float, float]:
    """The next (previous step, step): interpolation or extrapolation when it is a good
    short step, else bisection."""
    if abs(spre) > delta and abs(fcur) < abs(fpre):
        if xpre == xblk:  # interpolate
            stry = -fcur * (xcur - xpre) / (fcur - fpre)
        else:  # extrapolate
            dpre = (fpre - fcur) / (xpre - xcur)
            dblk = (fblk - fcur) / (xblk - xcur)
            stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
        if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):
            return scur, stry  # good short step
    return sbis, sbis  # bisect


def wald_thetas(y: np.ndarray, probs: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """For each shift ``s``, the ``theta > 0`` with ``E[exp(theta * (y + s))] = 1``; 0 where
    there is none (``E[y + s] >= 0``, or ``y + s`` is never positive).

    ``log E[exp(t (y + s))]`` is convex in ``t``, 0 at ``t = 0`` and falling there, so
    Newton's method started right of the root (a Gaussian guess, doubled until past
    it) descends to the root monotonically; all shifts are solved at once.

    >>> wald_thetas(np.array([-1.5, 0.5]), np.array([0.5, 0.5]), np.array([0.0, 1.0])).round(4).tolist()
    [1.2188, 0.0]
    """
    ys = y[None, :] + shifts[:, None]
    mean = ys @ probs
    ok = (mean < 0) & np.any((ys > 0) & (probs > 0)[None, :], axis=1)
    ys, m = ys[ok], mean[ok]
    out = np.zeros(len(shifts))
    if not ys.size:
        return out

    def g(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # log E[exp(t y)] and its derivative, stably
        a = t[:, None] * ys
        top = a.max(axis=1)
        e = np.exp(a - top[:, None]) * probs
        total = e.sum(axis=1)
        return top + np.log(total), (e * ys).sum(axis=1) / total

    t = -2 * m / np.maximum(((ys - m[:, None]) ** 2) @ probs, 1e-300)  # theta of a normal with this mean and variance
    for _ in range(200):
        low = g(t)[0] <= 0
        if not low.any():
            break
        t[low] *= 2
    for _ in range(100):
        value, slope = g(t)
        step = np.where(value > 0, value / slope, 0.0)  # at or left of the root (rounding): done
        t = t - step
        if np.all(step <= 1e-12 * t):
            break
    out[ok] = t
    return out


def wald_theta(y: np.ndarray, probs: np.ndarray) -> float | None:
    """The ``theta > 0`` with ``E[exp(theta * y)] = 1``, or ``None`` if there is none
    (``E[y] >= 0``, or ``y`` is never positive).

    >>> round(wald_theta(np.array([-1.5, 0.5]), np.array([0.5, 0.5])), 4)
    1.2188
    """
    theta = float(wald_thetas(y, probs, np.zeros(1))[0])
    return theta if theta > 0 else None
