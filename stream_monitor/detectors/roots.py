"""Brent's root finder, as :func:`scipy.optimize.brentq` computes it, without importing
:mod:`scipy.optimize`.

The CUSUM thresholds are calibrated by one root search per stream
(:mod:`stream_monitor.detectors.cusum_thresholds`); :mod:`scipy.optimize` costs a worker about 24 MB
of resident memory at import for that one function (``scipy.special`` 51 MB,
``scipy.optimize`` 75 MB, measured with ``/proc/self/statm`` on Python 3.11 and SciPy
1.17). This is SciPy's C routine (``scipy/optimize/Zeros/brentq.c``, by Charles Harris;
SciPy is BSD-3-Clause licensed) step for step in Python floats, which are the same IEEE
doubles, so the roots are the same bit for bit: ``tests/unit/detectors/test_kolmogorov.py`` compares them
with :func:`scipy.optimize.brentq`.

>>> brentq(lambda x: x * x - 2.0, 0.0, 2.0, xtol=1e-12)
1.4142135623731364
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["brentq"]

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
