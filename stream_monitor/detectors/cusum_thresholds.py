"""Thresholds and head starts of the CUSUMs: the false-alarm budget, calibrated.

The CUSUMs themselves (``S = max(0, S + d * x - k)`` per stream, a restart at a
head start ``h0`` after each alarm) are :class:`~stream_monitor.detectors.cusum.CusumBank`;
this module chooses each stream's threshold ``h`` on the exact reference
distribution of its signal, and the share of ``h`` it restarts from.

The false-alarm budget
    For increments ``y = d * x - k`` with ``E[exp(theta * y)] = 1`` (theta > 0,
    solved on the exact reference distribution of the signal), the chance that
    any stretch of the stream sums to ``h`` or more, starting at a given event,
    is at most ``exp(-theta * h)`` (Wald). So with ``h = log(M / rate) / theta``
    for ``M`` streams the expected alarms per event, over all streams, stay at
    or below ``rate`` while events follow the reference.
    The reference is itself an estimate; :func:`cusum_threshold` raises ``h``
    so that the bound holds on average over the reference's error in each
    signal's mean, and so that no single stream can spend more than the whole
    budget if its mean is off by four standard errors.

The head start
    A restart at ``h0`` reaches ``h`` before 0 with chance at most
    ``exp(-theta * (h - h0))`` (the same Wald argument). An alarm is
    corroborated by chance anyway if another stream alarms within the
    corroboration horizon of ``D`` events, with chance up to about ``D * rate``
    (:mod:`stream_monitor.decisions.corroboration`). :func:`derived_head_start`
    puts the restart at the share ``f`` of ``h`` at which the restart's own
    term is no larger than that: ``(1 - f) * log(M / rate) = log(1 / (D * rate))``;
    since every stream has ``theta * h >= log(M / rate)``, its restart then
    reaches ``h`` by chance with probability at most ``D * rate`` (at the
    reference's point estimate). A decision from one stream's evidence then
    needs the sum ``h + (h - h0) = log(M / (D * rate**2)) / theta``: at the
    defaults (``rate`` 1e-5, ``D`` 2,000, ``M`` ~56) 1.25 ``h`` instead of
    1.5 ``h`` at a fixed half, for at most twice the chance corroboration
    the horizon admits already.
"""

from __future__ import annotations

import math

import numpy as np

from stream_monitor.detectors.roots import brentq, wald_theta, wald_thetas

__all__ = ["DEFAULT_HEAD_START", "MAX_HEAD_START", "cusum_threshold", "derived_head_start"]

# Gauss-Hermite nodes and weights (standard normal) for the reference's error in a signal's mean.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()
DEFAULT_HEAD_START = 0.5  # layouts built without a corroboration horizon
MAX_HEAD_START = 0.9  # a restart next to the threshold would make the second alarm no evidence at all


def derived_head_start(log_streams_per_rate: float, rate_per_event: float, horizon: int) -> float:
    """The head start ``f`` (a share of each threshold) at which a restarted stream
    reaches its threshold by chance with probability at most ``horizon * rate``:
    ``1 - log(1 / (horizon * rate)) / log(M / rate)``, within ``[0, MAX_HEAD_START]``.

    >>> round(derived_head_start(math.log(56 / 1e-5), 1e-5, 2000), 3)
    0.748
    >>> derived_head_start(math.log(56 / 1e-5), 1e-5, 0), derived_head_start(math.log(56 / 1e-5), 1e-3, 2000)
    (0.0, 0.9)
    """
    chance = horizon * rate_per_event
    if chance <= 0:
        return 0.0
    if chance >= 1 or log_streams_per_rate <= 0:
        return MAX_HEAD_START
    return min(max(1.0 - math.log(1.0 / chance) / log_streams_per_rate, 0.0), MAX_HEAD_START)


def _compressed(values: np.ndarray, probs: np.ndarray, points: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` support points for the thresholds' sums: each value moved up to
    the top of its equal-width bin, which can only lower ``theta`` (raise ``h``)."""
    if len(values) <= points:
        return values, probs
    lo, hi = float(values.min()), float(values.max())
    width = (hi - lo) / points
    idx = np.clip(np.ceil((values - lo) / width), 1, points).astype(np.int64)  # bin i is (lo + (i-1) w, lo + i w]
    tops = lo + width * np.arange(points + 1)
    tops[-1] = hi
    mass = np.bincount(idx, weights=probs, minlength=points + 1)
    keep = mass > 0
    return tops[keep], mass[keep]


def cusum_threshold(
    values: np.ndarray,
    probs: np.ndarray,
    k: float,
    log_streams_per_rate: float,
    se: float = 0.0,
    *,
    worst_se: float = 4.0,
    log_per_rate: float | None = None,
) -> float | None:
    """The threshold ``h`` of one CUSUM stream, or ``None`` if it can never alarm.

    ``values`` and ``probs`` are the signal's distribution under the reference
    (already multiplied by the direction); ``log_streams_per_rate`` is
    ``log(M / rate)``. With ``se = 0`` the reference is taken as exact:
    ``h = log(M / rate) / theta`` (the Wald bound).

    ``se`` is the standard error of the reference's own estimate of the
    signal's mean (``1 / sqrt(rows)`` for a standardised signal): the true
    mean is off by some ``delta`` (normal, ``se``), which moves ``theta``. Then
    ``h`` is the larger of

    * the smallest ``h`` at which the stream's alarm rate *averaged over that
      error* is within its share ``rate / M``:
      ``E[exp(-theta(delta) h)] <= exp(-log(M / rate))``, the expectation by
      Gauss-Hermite quadrature (24 nodes) on ``theta`` solved at each node
      (where ``theta`` has no root, the stream is counted as alarming at every
      event);
    * when ``log_per_rate`` (``log(1 / rate)``) is given, the ``h`` at which
      the stream alone stays within the *whole* budget ``rate`` even if the
      mean is off by ``worst_se`` standard errors towards the alarm.

    A stream whose ``theta`` vanishes within ``worst_se`` standard errors (a
    reference too small to tell its ``k`` from noise) gets ``None``.

    >>> import math
    >>> v = np.array([-1.0, 1.0]); p = np.array([0.5, 0.5])
    >>> round(cusum_threshold(v, p, 0.5, math.log(1e6)), 2)
    11.34
    >>> round(cusum_threshold(v, p, 0.5, math.log(1e6), se=0.01), 2)
    11.4
    >>> cusum_threshold(v, p, 0.5, math.log(1e6), se=0.2) is None  # k within 4 standard errors
    True
    """
    if se <= 0:
        theta0 = wald_theta(values - k, probs)
        return None if theta0 is None else log_streams_per_rate / theta0
    y, pr = _compressed(values - k, probs)
    thetas = wald_thetas(y, pr, se * np.concatenate([[0.0, worst_se], _GH_NODES]))
    theta0, theta_worst, nodes = float(thetas[0]), float(thetas[1]), thetas[2:]
    if theta0 <= 0 or theta_worst <= 0:
        return None
    top = float(np.max(-nodes))

    def excess(h: float) -> float:  # log E[exp(-theta(delta) h)] + log(M / rate), stably
        return float(np.log(np.sum(_GH_WEIGHTS * np.exp(-nodes * h - top * h))) + top * h) + log_streams_per_rate

    h = log_streams_per_rate / theta0
    if excess(h) > 0:
        hi = 2 * h
        while excess(hi) > 0:
            if hi > 1e7:  # the nodes without a root alone exceed the share: no h will do
                return None
            hi *= 2
        h = brentq(excess, h, hi, xtol=1e-9)
    if log_per_rate is not None:
        h = max(h, log_per_rate / theta_worst)
    return h

