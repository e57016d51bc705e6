"""Phase-matched references: the reference a window of seasonal traffic is compared with.

A window covers a few phase buckets of the cycle (see
:mod:`stream_monitor.windows.seasonal`); with shares ``w_b`` of its events in
bucket ``b``, the matching reference is the mixture of the buckets' reference
distributions on the whole reference's bins, ``p = sum_b w_b p_b``. Window
tests, the data-quality rates and the MMD then run unchanged against that
mixture (:meth:`PhaseReference.mix`, :meth:`PhaseReference.embedding`).

The mixture is an estimate from the buckets' rows ``n_b``; its variance is that
of a sample of ``n_eff = 1 / sum_b (w_b^2 / n_b)`` rows, and that is the size
the mixed profile states, so two-sample tests account for the reference's own
noise (a window inside one bucket is compared with that bucket's ``n_b`` rows,
not the whole reference). Numeric moments (mean, standard deviation,
kurtosis) are mixed exactly from each bucket's central moments.

Calibrated distance thresholds (:class:`PhaseCalibrator`) are canonical: the
null of a window of ``n`` against a reference of ``n_eff`` rows (rounded down
to a grid of quarter powers of two: fewer rows, a wider null, a higher
threshold) with the whole reference's bin shares. They are therefore a
pure function of the reference, ``n`` and ``n_eff``, whatever windows came
before, so a restored worker computes the same thresholds.

The multivariate embedding mixes the buckets' mean embeddings the same way;
its covariance summary stays the whole reference's (it includes the variation
between phases, which makes the test a little conservative).
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_monitor.detectors.base import WindowTest
from stream_monitor.detectors.calibration import Calibrator
from stream_monitor.windows.accumulators import reference_counts
from stream_monitor.windows.embedding import FeatureMap
from stream_monitor.windows.profile import (
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceCache,
    ReferenceProfile,
)
from stream_monitor.windows.seasonal import BucketCounts, SeasonalProfile

__all__ = ["PhaseCalibrator", "PhaseReference", "mix_moments", "reference_grid"]

Profile = NumericProfile | CategoricalProfile


def mix_moments(w: np.ndarray, moments: np.ndarray) -> tuple[float, float, float]:
    """Mean, standard deviation and excess kurtosis of a mixture.

    ``moments`` has one row (mean, 2nd, 3rd, 4th central moment) per component.

    >>> m = np.array([[-1.0, 1.0, 0.0, 3.0], [1.0, 1.0, 0.0, 3.0]])
    >>> [round(x, 6) for x in mix_moments(np.array([0.5, 0.5]), m)]
    [0.0, 1.414214, -0.5]
    """
    mu = float(w @ moments[:, 0])
    d = moments[:, 0] - mu
    c2 = float(w @ (moments[:, 1] + d * d))
    c4 = float(w @ (moments[:, 3] + 4 * d * moments[:, 2] + 6 * d * d * moments[:, 1] + d**4))
    kurt = c4 / (c2 * c2) - 3.0 if c2 > 0 else 0.0
    return mu, float(np.sqrt(max(c2, 0.0))), round(kurt, 6)


def reference_grid(n: int) -> int:
    """``n`` rounded down to ``floor(2 ** (k / 4))``: the reference sizes thresholds are calibrated at.

    Each size costs a calibration per feature and test (about 20 ms) the first
    time it is met; a window's ``n_eff`` varies with its phases, so the grid is
    coarse (19% steps) and rounding down is conservative.

    >>> [reference_grid(n) for n in (1, 100, 3_000, 7_300)]
    [1, 90, 2896, 6888]
    """
    if n <= 1:
        return 1
    return int(2 ** (math.floor(4 * math.log2(n) + 1e-9) / 4))


@dataclass(frozen=True, slots=True)
class _Table:
    whole: Profile
    p: np.ndarray  # (buckets, bins) shares of each bucket (rows with no value: the whole reference's)
    n: np.ndarray  # (buckets,) values per bucket
    missing_rate: np.ndarray  # (buckets,)
    moments: np.ndarray | None  # (buckets, 4) numeric; buckets without values take the whole reference's


def _table(whole: Profile, buckets: tuple[BucketCounts, ...]) -> _Table:
    counts = np.asarray([b.counts for b in buckets], dtype=float)
    n = counts.sum(axis=1)
    base = reference_counts(whole).astype(float)
    base = base / max(base.sum(), 1.0)
    p = np.where(n[:, None] > 0, counts / np.maximum(n, 1.0)[:, None], base[None, :])
    missing = np.asarray([b.missing for b in buckets], dtype=float)
    rate = np.where(n + missing > 0, missing / np.maximum(n + missing, 1.0), 0.0)
    moments = None
    if isinstance(whole, NumericProfile):
        var = whole.std**2
        fallback = (whole.mean, var, 0.0, ((whole.kurtosis or 0.0) + 3.0) * var * var)
        moments = np.asarray([b.moments if b.moments is not None else fallback for b in buckets], dtype=float)
    return _Table(whole, p, n, rate, moments)


class PhaseReference:
    """The reference of one model version per phase bucket, ready to mix for a window."""

    def __init__(self, reference: ReferenceProfile) -> None:
        season = reference.seasonal
        if season is None:
            raise ValueError("the reference has no seasonal profile")
        self.reference = reference
        self.season: SeasonalProfile = season
        self.tables = {name: _table(reference.features[name], buckets) for name, buckets in season.features.items()
                       if name in reference.features}
        if reference.prediction is not None and season.prediction is not None:
            self.tables[PREDICTION] = _table(reference.prediction, season.prediction)
        self.embedding_means = np.asarray(season.embedding, dtype=float) if season.embedding else None
        self.embedding_rows = np.asarray(season.embedding_rows or (), dtype=float)

    @classmethod
    def cached(cls, reference: ReferenceProfile) -> PhaseReference:
        """Shared by every model version on the same reference (it is immutable)."""
        return _CACHE.get(reference, "phase", lambda: cls(reference))

    @staticmethod
    def _effective_rows(w: np.ndarray, n: np.ndarray) -> float:
        """``1 / sum(w_b^2 / n_b)`` over the buckets with a share."""
        on = w > 0
        if not on.any():
            return 0.0
        return float(1.0 / np.sum(w[on] ** 2 / np.maximum(n[on], 1.0)))

    def mix(self, w: np.ndarray) -> ReferenceProfile:
        """The reference matched to a window whose events fall in the buckets with shares ``w``."""
        features = {name: self._mix(name, w) if name in self.tables else prof
                    for name, prof in self.reference.features.items()}
        prediction = self.reference.prediction
        if prediction is not None and PREDICTION in self.tables:
            prediction = self._mix(PREDICTION, w)
        rows = self._effective_rows(w, np.asarray(self.season.rows, dtype=float))
        return self.reference.model_copy(update={
            "features": features, "prediction": prediction, "rows": max(round(rows), 1), "seasonal": None,
            "source": f"{self.reference.source} (phase-matched)"})

    def _mix(self, name: str, w: np.ndarray) -> Profile:
        t = self.tables[name]
        n_eff = self._effective_rows(w, t.n)
        counts = np.rint((w @ t.p) * n_eff).astype(np.int64)
        rate = float(w @ t.missing_rate)
        missing = round(n_eff * rate / (1.0 - rate)) if rate < 1.0 else int(n_eff)
        if isinstance(t.whole, NumericProfile):
            assert t.moments is not None
            mean, std, kurt = mix_moments(w, t.moments)
            return NumericProfile.model_construct(
                kind="numeric", edges=t.whole.edges, counts=tuple(int(c) for c in counts), missing=missing,
                minimum=t.whole.minimum, maximum=t.whole.maximum, mean=mean, std=std, kurtosis=kurt)
        return CategoricalProfile.model_construct(
            kind="categorical", categories=t.whole.categories, counts=tuple(int(c) for c in counts[:-1]),
            other=int(counts[-1]), missing=missing)

    def embedding(self, fmap: FeatureMap | None, w: np.ndarray) -> FeatureMap | None:
        """The window layout's feature map with the mixed mean embedding of the buckets."""
        means = self.embedding_means
        if fmap is None or means is None or means.shape[1] != fmap.size:
            return fmap
        on = (w > 0) & (self.embedding_rows > 0)
        if not on.any():
            return fmap
        ww = w * on / float(np.sum(w * on))
        return dataclasses.replace(fmap, ref_mean=ww @ means,
                                   ref_n=max(round(self._effective_rows(ww, self.embedding_rows)), 2))


_CACHE: ReferenceCache[PhaseReference] = ReferenceCache()


class PhaseCalibrator(Calibrator):
    """Calibrated thresholds for phase-matched references, canonical per reference size.

    The threshold for a mixed reference of ``n_eff`` rows is calibrated on the
    whole reference's shares at ``grid_size(n_eff)`` rows, so it depends on the
    reference, the window size and ``n_eff`` only (see the module docstring).
    """

    def __init__(self, reference: ReferenceProfile, *, resamples: int = 2000, seed: int = 0,
                 max_sizes: int = 64) -> None:
        super().__init__(resamples=resamples, seed=seed)
        self.reference = reference
        self.max_sizes = max_sizes
        self._by_size: OrderedDict[int, Calibrator] = OrderedDict()

    def threshold(
        self, feature: str, test: WindowTest, reference: np.ndarray, profile: Any, n: int, quantile: float
    ) -> float:
        whole = self.reference.prediction if feature == PREDICTION else self.reference.features.get(feature)
        if whole is None:
            return super().threshold(feature, test, reference, profile, n, quantile)
        size = reference_grid(int(reference.sum()))
        base = reference_counts(whole).astype(float)
        canonical = np.rint(base / max(base.sum(), 1.0) * size).astype(np.int64)
        cal = self._by_size.get(size)
        if cal is None:
            cal = self._by_size[size] = Calibrator(resamples=self.resamples, seed=self.seed)
            if len(self._by_size) > self.max_sizes:
                self._by_size.popitem(last=False)
        else:
            self._by_size.move_to_end(size)
        return cal.threshold(feature, test, canonical, whole, n, quantile)
