"""Sequential drift detection: a bank of CUSUMs on per-event signals of the reference.

Window tests cannot decide before a window closes; river's per-event detectors
decide early but know nothing of the reference and cry wolf (ADWIN ~150,
KSWIN ~4,500, PageHinkley ~78,000 false alarms per million events on the demo
streams, see ``benchmarks/detection.py``). This detector decides per event,
against the reference, within a false-alarm budget that is a guarantee, not a
hope.

The signals (and why their reference distribution is exact) are built in
:mod:`stream_monitor.detectors.cusum_signals`; this module has the CUSUMs.

CUSUMs
    Every signal feeds an upward and a downward CUSUM
    ``S = max(0, S + d * x - k)`` for each reference value ``k`` (in standard
    deviations: ``k`` is half the shift it is tuned to; a small and a large one
    cover slow and sudden change). A stream alarms when ``S`` reaches its
    threshold ``h`` and then restarts from a head start ``h0`` (a share of
    ``h``, derived below; residual streams restart from 0, see
    :func:`head_starts`): if the shift persists it alarms again in
    ``1 - h0 / h`` of the events the first alarm took, which is how an alarm is
    corroborated by its own stream (Lucas and Crosier's fast initial
    response, applied at each restart).

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

Arithmetic is in fixed point (integers of 2**-20): increments are looked up or
rounded per event, and sums of integers do not depend on how the stream is cut
into batches, so a restarted worker reaches the same state bit for bit.

Examples
--------
>>> bank = CusumBank(*(np.zeros(1, dtype=np.int64) for _ in range(3)), np.array([3 * SCALE]), np.zeros(1, np.int64))
>>> bank.scan(np.array([[SCALE], [-SCALE], [2 * SCALE], [2 * SCALE]]), stop_on_alarm=True)
3
>>> bank.alarms.tolist(), bank.sums.tolist()
([1], [0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stream_monitor.detectors.roots import brentq
from stream_monitor.detectors.state import CusumState
from stream_monitor.windows.persist import capture, restore

if TYPE_CHECKING:
    from stream_monitor.detectors.cusum_signals import CusumLayout

__all__ = [
    "DEFAULT_HEAD_START", "MAX_HEAD_START", "SCALE", "CusumBank", "Stream", "cusum_threshold", "derived_head_start",
    "head_starts", "wald_theta", "wald_thetas",
]

SCALE = 1 << 20  # fixed point: one unit of the signal is 2**20
# Rows of increments per closed-form step of :meth:`CusumBank.scan`. Its temporaries
# are (rows, streams) int64 arrays: at 256 rows and ~230 streams they stay in a 1 MB
# L2 cache. The scan cost ~1.4 us per event of an envelope, against ~3.6 at 512 rows.
_BLOCK = 256
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


@dataclass(frozen=True, slots=True)
class Stream:
    """One CUSUM: which signal, which direction, its reference value and threshold."""

    feature: str  # a feature name, ``__prediction__`` or ``__multivariate__``
    signal: str  # "mean", "variance", "surprisal", "correlation a,b" or "mean given b"
    direction: int  # +1: the signal rises, -1: it falls
    k: float
    threshold: float
    partner: str | None = None  # residual signals ("mean given b"): b

    @property
    def label(self) -> str:
        return f"{self.signal} {'up' if self.direction > 0 else 'down'} (k={self.k:.2g})"


@dataclass(slots=True)
class CusumBank:
    """The state of every stream of a :class:`CusumLayout`: sums and alarm counts.

    ``window_alarms`` counts alarms since the window opened (reset by
    :meth:`open_window`); ``alarms`` since the bank started.
    """

    sums: np.ndarray  # int64 per stream
    alarms: np.ndarray  # int64 per stream
    window_alarms: np.ndarray  # int64 per stream
    thresholds: np.ndarray  # int64 per stream, from the layout
    heads: np.ndarray  # int64 per stream: where a stream restarts after an alarm

    @classmethod
    def empty(cls, layout: CusumLayout, head_start: float | None = None) -> CusumBank:
        """A bank at rest; ``head_start`` overrides the layout's derived one."""
        z = len(layout.streams)
        return cls(np.zeros(z, dtype=np.int64), np.zeros(z, dtype=np.int64), np.zeros(z, dtype=np.int64),
                   layout.thresholds, _heads(layout, head_start))

    def open_window(self) -> None:
        self.window_alarms[:] = 0

    def scan(self, increments: np.ndarray, *, stop_on_alarm: bool) -> int | None:
        """Feed an (n, streams) block of increments in event order.

        Returns the row of the first alarm when ``stop_on_alarm`` (the state
        then covers rows up to and including it; feed the rest again), else
        ``None`` after consuming everything (alarmed streams restart, alarms
        are counted either way).
        """
        h = self.thresholds
        n = increments.shape[0]
        start = 0
        while start < n:
            block = increments[start:start + _BLOCK]
            c = np.cumsum(block, axis=0)
            floor = np.minimum(np.minimum.accumulate(c, axis=0), -self.sums)
            s = c - floor  # Lindley recursion max(0, s + y), in closed form
            hit = s >= h
            rows = np.flatnonzero(hit.any(axis=1))
            if rows.size == 0:
                self.sums = s[-1].copy()
                start += block.shape[0]
                continue
            if stop_on_alarm:
                r = int(rows[0])
                fired = hit[r]
                self.sums = np.where(fired, self.heads, s[r])
                self.alarms += fired
                self.window_alarms += fired
                return start + r
            # Counting only (the model already drifts): streams without an alarm in the block
            # keep the closed form; the ones that alarmed run the recursion together, a row at a
            # time, from the earliest first alarm among them (see :func:`_count_restarts`).
            sums = s[-1].copy()
            cols = np.flatnonzero(hit.any(axis=0))
            sums[cols], counts = _count_restarts(block, s, hit, cols, self.heads[cols], h[cols])
            self.alarms[cols] += counts
            self.window_alarms[cols] += counts
            self.sums = sums
            start += block.shape[0]
        return None

    def to_state(self) -> CusumState:
        return capture(CusumState, self)

    @classmethod
    def from_state(cls, state: CusumState, layout: CusumLayout, head_start: float | None = None) -> CusumBank | None:
        """The bank a :meth:`to_state` snapshot describes, with ``layout``'s thresholds and
        heads, or ``None`` if it does not fit ``layout``."""
        bank = restore(cls, state, thresholds=layout.thresholds, heads=_heads(layout, head_start))
        if any(a.shape != (len(layout.streams),) for a in (bank.sums, bank.alarms, bank.window_alarms)):
            return None
        return bank


def _count_restarts(
    block: np.ndarray, s: np.ndarray, hit: np.ndarray, cols: np.ndarray, heads: np.ndarray, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Final sums and alarm counts of the streams ``cols`` over ``block``, restarting each at
    its head start after every alarm.

    ``s`` is the closed form without restarts and ``hit`` where it reaches the threshold:
    it is exact up to each stream's first alarm. From the earliest first alarm on, the
    recursion ``max(0, s + y)`` runs a row at a time across every stream in ``cols`` at
    once (a stream before its own first alarm follows its closed form there, integers
    exactly). Per stream and event in Python instead, this cost ~26 ms per drifted window
    of 1,000 events with every stream alarming; a row across the streams, ~3 ms.
    """
    firsts = hit[:, cols].argmax(axis=0)
    r0 = int(firsts.min())
    started = firsts == r0
    total = np.where(started, heads, s[r0, cols])
    counts = started.astype(np.int64)
    fired = np.empty(cols.size, dtype=bool)
    for y in block[r0 + 1:, cols]:
        total += y
        np.maximum(total, 0, out=total)
        np.greater_equal(total, limits, out=fired)
        counts += fired
        np.copyto(total, heads, where=fired)
    return total, counts


def _heads(layout: CusumLayout, head_start: float | None) -> np.ndarray:
    """Restart points: ``head_start`` (else the layout's) of each threshold, in fixed point (below it, so a
    restart never counts as an alarm by itself). Residual streams (``a given b``) restart
    from 0: their alarms are blamed on the side with clearly more evidence, and a quick
    second alarm of the same residual would decide on a near tie (``__multivariate__``)
    before the side's own streams have spoken."""
    share = layout.head_start if head_start is None else head_start
    return head_starts(layout.thresholds, share, np.array([s.partner is not None for s in layout.streams]))


def head_starts(thresholds: np.ndarray, head_start: float, residual: np.ndarray | None = None) -> np.ndarray:
    """``head_start`` of each threshold in fixed point, 0 where ``residual``."""
    heads: np.ndarray = np.minimum((thresholds * head_start).astype(np.int64), np.maximum(thresholds - 1, 0))
    if residual is not None and residual.size:
        heads[residual] = 0
    return heads
