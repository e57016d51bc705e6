"""Build the per-phase reference (:class:`~stream_monitor.windows.seasonal.SeasonalProfile`).

:func:`~stream_monitor.windows.profile.build_profile` streams the reference rows
through :meth:`SeasonalBuilder.watch`, which files each row's values under the
phase bucket of its event time, then profiles the whole reference as usual;
:meth:`SeasonalBuilder.finish` counts each bucket on the whole reference's bins
and categories. Rows are read once; the builder holds each numeric value once
more (8 bytes) until the profile is built.

A reference that does not cover whole cycles cannot say what any phase looks
like: :meth:`SeasonalBuilder.finish` refuses one that spans fewer than
``min_cycles`` periods or leaves a bucket with fewer than ``min_bucket_rows``
rows (a :class:`ValueError` naming the buckets, a configuration error at start).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from stream_monitor.specs.inputs import SeasonalitySpec
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.reference_profile import (
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    as_float,
    categorical_key,
    prediction_kind,
)
from stream_monitor.windows.seasonal import BucketCounts, SeasonalProfile, phase_bucket

__all__ = ["BUCKET_EMBEDDING_ROWS", "EMBEDDING_ROWS", "SeasonalBuilder", "event_time"]

# Complete rows per bucket behind its mean embedding: its error repeats in every window
# of that phase, so it is kept well above a window's size; at most EMBEDDING_ROWS over all
# buckets (float64 arrays: 120,000 rows of 20 features are ~19 MB while building).
BUCKET_EMBEDDING_ROWS = 5_000
EMBEDDING_ROWS = 120_000


def event_time(value: Any) -> float | None:
    """Unix seconds from a number or an ISO 8601 string (naive means UTC); ``None`` if neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        x = as_float(value)
        if x is not None:
            return x
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).timestamp()
    return None


class SeasonalBuilder:
    """Files reference rows by phase bucket while the whole profile is built."""

    def __init__(self, spec: ModelSpec, prediction_column: Sequence[str]) -> None:
        assert spec.seasonality is not None
        self.season: SeasonalitySpec = spec.seasonality
        self.spec = spec
        b = self.season.buckets
        self.prediction_column = tuple(prediction_column)
        self.numeric = [f.name for f in spec.features if f.type == "numeric"]
        self.categorical = [f.name for f in spec.features if f.type != "numeric"]
        self.values = {n: [array("d") for _ in range(b)] for n in self.numeric}
        self.cats = {n: [Counter[str]() for _ in range(b)] for n in self.categorical}
        self.missing = {n: np.zeros(b, dtype=np.int64) for n in [*self.numeric, *self.categorical]}
        self.pred_values = [array("d") for _ in range(b)]
        self.pred_cats = [Counter[str]() for _ in range(b)]
        self.pred_missing = np.zeros(b, dtype=np.int64)
        self.rows = np.zeros(b, dtype=np.int64)
        self.cap = max(min(BUCKET_EMBEDDING_ROWS, EMBEDDING_ROWS // b), 1)
        self.complete = [np.empty((self.cap, len(self.numeric))) for _ in range(b)]
        self.seen = np.zeros(b, dtype=np.int64)
        self.rng = np.random.default_rng([spec.reference.sample_seed, 0x534541])
        self.first, self.last = math.inf, -math.inf
        self.pred_is_cat = prediction_kind(spec) == "categorical"

    def watch(self, rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Yield ``rows`` unchanged, filing each under its phase bucket."""
        col = self.season.timestamp_column
        for i, row in enumerate(rows):
            ts = event_time(row.get(col))
            if ts is None:
                raise ValueError(f"row {i + 1} has no event time in column {col!r} (seasonality needs one per row)")
            self._add(row, ts)
            yield row

    def _add(self, row: Mapping[str, Any], ts: float) -> None:
        s = self.season
        b = phase_bucket(ts, s.period, s.buckets, offset_seconds=s.offset)
        self.first, self.last = min(self.first, ts), max(self.last, ts)
        self.rows[b] += 1
        parsed = []
        for name in self.numeric:
            x = as_float(row.get(name))
            parsed.append(x)
            if x is None:
                self.missing[name][b] += 1
            else:
                self.values[name][b].append(x)
        if parsed and all(x is not None for x in parsed):
            self.seen[b] += 1
            seen = int(self.seen[b])
            j = seen - 1 if seen <= self.cap else int(self.rng.integers(seen))  # reservoir sampling
            if j < self.cap:
                self.complete[b][j] = parsed
        for name in self.categorical:
            key = categorical_key(row.get(name))
            if key is None:
                self.missing[name][b] += 1
            else:
                self.cats[name][b][key] += 1
        raw = next((row[c] for c in self.prediction_column if row.get(c) not in (None, "")), None)
        if self.pred_is_cat:
            key = categorical_key(raw)
            if key is None:
                self.pred_missing[b] += 1
            else:
                self.pred_cats[b][key] += 1
        else:
            x = as_float(raw)
            if x is None:
                self.pred_missing[b] += 1
            else:
                self.pred_values[b].append(x)

    def _check_coverage(self) -> None:
        s = self.season
        span = self.last - self.first if self.rows.sum() else 0.0
        if span + s.period / s.buckets < s.min_cycles * s.period:  # the last bucket's own width is covered
            raise ValueError(f"seasonality: the reference spans {span / s.period:.2f} periods of {s.period:g} s; "
                             f"at least {s.min_cycles:g} whole periods are needed")
        thin = [i for i in range(s.buckets) if self.rows[i] < s.min_bucket_rows]
        if thin:
            raise ValueError(f"seasonality: phase buckets {thin[:10]} have fewer than {s.min_bucket_rows} "
                             "reference rows; use fewer buckets or a longer reference")

    def finish(self, profile: ReferenceProfile) -> SeasonalProfile:
        """The per-bucket counts on ``profile``'s bins (raises ``ValueError`` on poor coverage)."""
        self._check_coverage()
        s = self.season
        features: dict[str, tuple[BucketCounts, ...]] = {}
        for name in self.numeric:
            prof = profile.features[name]
            assert isinstance(prof, NumericProfile)
            features[name] = tuple(_numeric(np.frombuffer(v, dtype=float), prof, int(m))
                                   for v, m in zip(self.values[name], self.missing[name], strict=True))
        for name in self.categorical:
            cat = profile.features[name]
            assert isinstance(cat, CategoricalProfile)
            features[name] = tuple(_categorical(c, cat, int(m))
                                   for c, m in zip(self.cats[name], self.missing[name], strict=True))
        prediction = None
        if isinstance(profile.prediction, NumericProfile):
            prediction = tuple(_numeric(np.frombuffer(v, dtype=float), profile.prediction, int(m))
                               for v, m in zip(self.pred_values, self.pred_missing, strict=True))
        elif isinstance(profile.prediction, CategoricalProfile):
            prediction = tuple(_categorical(c, profile.prediction, int(m))
                               for c, m in zip(self.pred_cats, self.pred_missing, strict=True))
        embedding, embedding_rows = self._embedding(profile)
        return SeasonalProfile(
            period_seconds=s.period, buckets=s.buckets, offset_seconds=s.offset, first_ts=self.first,
            last_ts=self.last, rows=tuple(int(r) for r in self.rows), features=features, prediction=prediction,
            embedding=embedding, embedding_rows=embedding_rows,
        )

    def _embedding(self, profile: ReferenceProfile) -> tuple[tuple[tuple[float, ...], ...] | None,
                                                              tuple[int, ...] | None]:
        """Each bucket's mean random feature on the whole reference's embedding map."""
        det = self.spec.detectors
        sample = profile.sample
        if not det.multivariate or sample is None or sample.embedding is None:
            return None, None
        from stream_monitor.windows.embedding import FeatureMap  # the map lives with the embedding

        fmap = FeatureMap.build(profile, n_features=det.mmd_features, seed=det.seed)
        if fmap is None or list(fmap.features) != self.numeric:
            return None, None
        means, counts = [], []
        for rows, seen in zip(self.complete, self.seen, strict=True):
            x = rows[:min(int(seen), self.cap)]
            cols = {name: x[:, j] for j, name in enumerate(self.numeric)}
            z = fmap.embed(fmap.rows([{}] * len(x), cols)) if len(x) else np.zeros((0, fmap.size))
            means.append(tuple(float(v) for v in (z.mean(axis=0) if len(x) else np.zeros(fmap.size))))
            counts.append(len(x))
        return tuple(means), tuple(counts)


def _numeric(values: np.ndarray, prof: NumericProfile, missing: int) -> BucketCounts:
    edges = np.asarray(prof.edges, dtype=float)
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    moments = None
    if values.size:
        mean = float(values.mean())
        c = values - mean
        moments = (mean, float(np.mean(c**2)), float(np.mean(c**3)), float(np.mean(c**4)))
    return BucketCounts(counts=tuple(int(x) for x in counts), missing=missing, moments=moments)


def _categorical(values: Counter[str], prof: CategoricalProfile, missing: int) -> BucketCounts:
    counts = [values.get(c, 0) for c in prof.categories]
    other = sum(values.values()) - sum(counts)
    return BucketCounts(counts=(*counts, other), missing=missing)
