"""Per-event CUSUMs standardised by the reference of each event's phase bucket.

Without this, a daily cycle moves every per-event signal of
:mod:`stream_monitor.detectors.cusum_signals` away from its reference mean for
hours at a time, and the CUSUMs alarm on the cycle itself (and alarm again in
later windows, which corroborates them). Here each phase bucket has its own
signal tables, compiled from that bucket's reference counts on the whole
reference's bins (:class:`~stream_monitor.windows.seasonal.SeasonalProfile`):
an event's normal score, squared score or surprisal is standardised by its own
phase's reference distribution, so it has mean 0 and variance 1 there.

All buckets feed one bank of streams (one per feature, signal, direction and
``k``, in the order of first appearance over the buckets); a stream's
threshold is the largest of its buckets' thresholds, each computed as in
:func:`~stream_monitor.detectors.cusum_thresholds.cusum_threshold` with the bucket's own
rows as the reference size, so the false-alarm bound holds in every phase.
The correlation and residual signals are left out: pairs of features that
follow the same cycle are correlated over the day but not within a phase, and
the multivariate window test (mixed per phase) watches joint change instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_monitor.detectors.cusum import Stream
from stream_monitor.detectors.cusum_signals import CusumLayout
from stream_monitor.detectors.cusum_thresholds import DEFAULT_HEAD_START
from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.columns import Column, columns_of, prediction_values
from stream_monitor.windows.profile import (
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceCache,
    ReferenceProfile,
)
from stream_monitor.windows.seasonal import PHASE_UNIT, BucketCounts

__all__ = ["SeasonalCusum"]

StreamKey = tuple[str, str, int, float]


def _numeric(whole: NumericProfile, b: BucketCounts) -> NumericProfile | None:
    """The bucket on the whole reference's bins. A bin the bucket never saw counts once: a
    bucket holds a fraction of the reference, so its empty tail bins are rare, not impossible,
    and an empty bin's normal score (about 6) would make one event nearly an alarm."""
    if b.n == 0:
        return None
    return NumericProfile(edges=whole.edges, counts=tuple(max(c, 1) for c in b.counts), missing=b.missing,
                          minimum=whole.minimum, maximum=whole.maximum, mean=whole.mean, std=whole.std)


def _categorical(whole: CategoricalProfile, b: BucketCounts) -> CategoricalProfile | None:
    if b.n == 0:
        return None
    return CategoricalProfile(categories=whole.categories, counts=b.counts[:-1], other=b.counts[-1], missing=b.missing)


@dataclass(frozen=True, slots=True)
class SeasonalCusum:
    """One CUSUM layout per phase bucket, feeding one bank (see the module docstring).

    ``layout`` holds the bank's streams and thresholds (no inputs of its own):
    :class:`~stream_monitor.detectors.cusum.CusumBank` and
    :func:`~stream_monitor.pipeline.sequential.sequential_readings` take it as
    any other layout.
    """

    layout: CusumLayout
    buckets: tuple[CusumLayout, ...]
    columns: tuple[np.ndarray, ...]  # per bucket: where its streams sit in ``layout``

    @classmethod
    def cached(cls, spec: ModelSpec, reference: ReferenceProfile) -> SeasonalCusum | None:
        seq = spec.detectors.sequential
        if not seq.enabled or reference.seasonal is None:
            return None
        params = seq.model_dump_json() + spec.model_dump_json(include={"features"}) + str(spec.detectors.seed)
        return _CACHE.get(reference, params, lambda: cls.build(spec, reference))

    @classmethod
    def build(cls, spec: ModelSpec, reference: ReferenceProfile) -> SeasonalCusum:
        season = reference.seasonal
        assert season is not None
        seq = spec.detectors.sequential
        layouts = []
        for i in range(season.buckets):
            numeric: dict[str, NumericProfile] = {}
            categorical: dict[str, CategoricalProfile] = {}
            for f in spec.features:
                whole = reference.features.get(f.name)
                got = season.features.get(f.name)
                if got is None:
                    continue
                if isinstance(whole, NumericProfile) and (p := _numeric(whole, got[i])) is not None:
                    numeric[f.name] = p
                elif isinstance(whole, CategoricalProfile) and (c := _categorical(whole, got[i])) is not None:
                    categorical[f.name] = c
            pred: NumericProfile | CategoricalProfile | None = None
            if season.prediction is not None:
                if isinstance(reference.prediction, NumericProfile):
                    pred = _numeric(reference.prediction, season.prediction[i])
                elif isinstance(reference.prediction, CategoricalProfile):
                    pred = _categorical(reference.prediction, season.prediction[i])
            layouts.append(CusumLayout.build(
                numeric, categorical, pred, None, ks=seq.reference_values,
                rate_per_event=seq.false_alarms_per_million / 1e6, seed=spec.detectors.seed, max_pairs=0,
                variance=seq.variance, horizon=seq.confirm_events))
        return cls.union(layouts)

    @classmethod
    def union(cls, layouts: Sequence[CusumLayout]) -> SeasonalCusum:
        """One bank over the streams of every bucket, each at its largest threshold."""
        order: dict[StreamKey, int] = {}
        top: list[Stream] = []
        for lay in layouts:
            for s in lay.streams:
                key = (s.feature, s.signal, s.direction, s.k)
                j = order.get(key)
                if j is None:
                    order[key] = len(top)
                    top.append(s)
                elif s.threshold > top[j].threshold:
                    top[j] = s
        thresholds = np.zeros(len(top), dtype=np.int64)
        columns = []
        for lay in layouts:
            cols = np.asarray([order[(s.feature, s.signal, s.direction, s.k)] for s in lay.streams], dtype=np.int64)
            if cols.size:
                thresholds[cols] = np.maximum(thresholds[cols], lay.thresholds)
            columns.append(cols)
        heads = [lay.head_start for lay in layouts]
        union = CusumLayout(tuple(top), (), (), thresholds, head_start=min(heads) if heads else DEFAULT_HEAD_START)
        return cls(union, tuple(layouts), tuple(columns))

    def increments(
        self,
        events: Sequence[PredictionEvent | FeatureEvent],
        phase: tuple[np.ndarray, np.ndarray, np.ndarray],
        prediction_type: str,
        columns: Mapping[str, Column] | None = None,
    ) -> np.ndarray:
        """The (events, streams) fixed-point increments of a batch.

        ``phase`` is each event's (lower bucket, upper bucket, upper weight) from
        :func:`~stream_monitor.windows.seasonal.phase_weights`: an event's
        increment is its two buckets' increments weighted linearly, in integers.
        """
        lo, hi, weight = phase
        n = len(events)
        names = sorted({name for lay in self.buckets for name in lay.input_names})
        if columns is None or not all(name in columns for name in names):
            columns = columns_of([e.features if e.features is not None else {} for e in events], names)
        pred: list[Any] | None = None
        if any(i.name == PREDICTION for lay in self.buckets for i in lay.inputs):
            pred = prediction_values(events, prediction_type)
        low = self._by_bucket(lo, n, columns, pred)
        high = self._by_bucket(hi, n, columns, pred)
        w = weight[:, None]
        return np.asarray((low * (PHASE_UNIT - w) + high * w) // PHASE_UNIT, dtype=np.int64)

    def _by_bucket(
        self, buckets: np.ndarray, n: int, columns: Mapping[str, Column], pred: list[Any] | None
    ) -> np.ndarray:
        """Increments of every event under the reference of its bucket in ``buckets``."""
        out = np.zeros((n, len(self.layout.streams)), dtype=np.int64)
        for b in np.unique(buckets).tolist():
            lay, cols = self.buckets[b], self.columns[b]
            if not cols.size:
                continue
            idx = np.flatnonzero(buckets == b)
            sub = {name: _take(columns[name], idx) for name in lay.input_names if name in columns}
            sub_pred = [pred[i] for i in idx.tolist()] if pred is not None else None
            out[np.ix_(idx, cols)] = lay.increments(sub, sub_pred, idx.size)
        return out


def _take(column: Column, idx: np.ndarray) -> Column:
    if isinstance(column, np.ndarray):
        taken: np.ndarray = column[idx]
        return taken
    return [column[i] for i in idx.tolist()]


_CACHE: ReferenceCache[SeasonalCusum] = ReferenceCache()
