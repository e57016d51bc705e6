"""The seasonal part of a reference profile: the reference per phase of a cycle.

Production traffic follows daily and weekly cycles. A window of 1,000 events
covers a small part of a day, so comparing it with the whole reference (every
hour of the day pooled) flags the cycle itself as drift. With ``seasonality``
configured, the reference is also profiled per *phase bucket* (e.g. 24 buckets
of one hour over a period of one day), on the bins of the whole reference, and
every detector compares a window with the mixture of the buckets weighted by
the window's own phase composition (:mod:`stream_monitor.pipeline.seasonal`).

This module holds the stored values (frozen pydantic models inside
:class:`~stream_monitor.windows.profile.ReferenceProfile`) and the phase of an
event time; :mod:`stream_monitor.windows.seasonal_build` builds them from rows.
Memory is ``buckets x features x bins`` counts, plus, for the multivariate
test, ``buckets`` mean embeddings.

Examples
--------
>>> phase_bucket(0.0, 86_400.0, 24), phase_bucket(3_600.0 * 13 + 5, 86_400.0, 24)
(0, 13)
>>> phase_buckets(np.array([-1.0, 86_399.0, 86_400.0]), 86_400.0, 24).tolist()
[23, 23, 0]
>>> phase_bucket(3_600.0, 86_400.0, 24, offset_seconds=-3_600.0)
0
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict

__all__ = ["PHASE_UNIT", "BucketCounts", "SeasonalProfile", "phase_bucket", "phase_buckets", "phase_weights"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
PHASE_UNIT = 1 << 16  # an event's phase weights are integers of 1 / PHASE_UNIT: sums are exact in any order


def phase_bucket(ts: float, period_seconds: float, buckets: int, *, offset_seconds: float = 0.0) -> int:
    """The phase bucket (0 .. buckets - 1) of event time ``ts`` (Unix seconds)."""
    phase = math.fmod(ts + offset_seconds, period_seconds)
    if phase < 0:
        phase += period_seconds
    return min(int(phase / period_seconds * buckets), buckets - 1)


def phase_buckets(ts: np.ndarray, period_seconds: float, buckets: int, *, offset_seconds: float = 0.0) -> np.ndarray:
    """:func:`phase_bucket` of every event time in ``ts`` (int64)."""
    phase = np.mod(np.asarray(ts, dtype=float) + offset_seconds, period_seconds)
    out = np.floor(phase / period_seconds * buckets).astype(np.int64)
    return np.clip(out, 0, buckets - 1)


def phase_weights(
    ts: np.ndarray, period_seconds: float, buckets: int, *, offset_seconds: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each event between the two nearest bucket centres: (lower bucket, upper bucket, upper weight).

    A bucket's reference stands for the middle of the bucket; an event at a
    quarter of the way from one centre to the next is weighted 3/4 and 1/4
    (the weight is in units of :data:`PHASE_UNIT`), so that traffic that moves
    within an hour is matched by a reference that moves with it.

    >>> lo, hi, f = phase_weights(np.array([1_800.0, 2_700.0, 0.0]), 86_400.0, 24)
    >>> lo.tolist(), hi.tolist(), (f / PHASE_UNIT).tolist()
    ([0, 0, 23], [1, 1, 0], [0.0, 0.25, 0.5])
    """
    x = np.mod(np.asarray(ts, dtype=float) + offset_seconds, period_seconds) / period_seconds * buckets - 0.5
    low = np.floor(x)
    weight = np.rint((x - low) * PHASE_UNIT).astype(np.int64)
    lo = low.astype(np.int64) % buckets
    return lo, (lo + 1) % buckets, weight


class BucketCounts(BaseModel):
    """One feature (or the prediction) in one phase bucket, on the whole reference's bins.

    ``counts`` are per bin of the feature's profile (numeric: ``len(edges) + 1``
    bins; categorical: its categories, then the pooled "other"). ``moments`` are
    the mean and the 2nd, 3rd and 4th central moments of a numeric value.
    """

    model_config = _FROZEN
    counts: tuple[int, ...]
    missing: int = 0
    moments: tuple[float, float, float, float] | None = None

    @property
    def n(self) -> int:
        return sum(self.counts)


class SeasonalProfile(BaseModel):
    """The reference per phase bucket: ``buckets`` equal parts of ``period_seconds``.

    ``features`` and ``prediction`` hold one :class:`BucketCounts` per bucket;
    ``embedding`` (when the multivariate test is on) the mean random feature of
    each bucket's complete rows (up to ``embedding_rows`` of them), on the same
    map as the whole reference's embedding.
    """

    model_config = _FROZEN
    period_seconds: float
    buckets: int
    offset_seconds: float = 0.0
    first_ts: float
    last_ts: float
    rows: tuple[int, ...]
    features: dict[str, tuple[BucketCounts, ...]]
    prediction: tuple[BucketCounts, ...] | None = None
    embedding: tuple[tuple[float, ...], ...] | None = None
    embedding_rows: tuple[int, ...] | None = None

    @property
    def cycles(self) -> float:
        """How many whole periods the reference's event times span."""
        return (self.last_ts - self.first_ts) / self.period_seconds

    def buckets_of(self, ts: np.ndarray) -> np.ndarray:
        """The phase bucket of each event time."""
        return phase_buckets(ts, self.period_seconds, self.buckets, offset_seconds=self.offset_seconds)

    def weights_of(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`phase_weights` of each event time."""
        return phase_weights(ts, self.period_seconds, self.buckets, offset_seconds=self.offset_seconds)

    def composition(self, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Phase weight per bucket (int64, units of :data:`PHASE_UNIT`) of events with these weights."""
        total = (np.bincount(lo, weights=PHASE_UNIT - weight, minlength=self.buckets)
                 + np.bincount(hi, weights=weight, minlength=self.buckets))
        out: np.ndarray = np.rint(total).astype(np.int64)
        return out
