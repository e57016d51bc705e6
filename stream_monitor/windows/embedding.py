"""A random-feature embedding of the numeric features, and its mergeable window sum.

Multivariate drift (a correlation that flips while every marginal stays put)
is invisible to per-feature tests. The maximum mean discrepancy (MMD) with a
Gaussian kernel sees it. Computing it exactly needs raw rows; instead each row
is mapped to ``2 * D`` random Fourier features (Rahimi & Recht 2007), whose
inner product approximates the Gaussian kernel, and a window keeps only the
*sum* of its rows' features: a vector of fixed size, exactly mergeable, cheap
to snapshot. The MMD is then the distance between the window's mean feature
and the reference's (see :func:`stream_monitor.detectors.two_sample.mmd_test`).

Rows are first put on a common scale with the reference's own CDF of each
feature (from the profile's quantile bins), turned into normal scores: heavy
tails and units stop mattering. The kernel bandwidth is the median pairwise
distance of the reference sample (the median heuristic). Frequencies come from
a seeded generator, so a layout is a pure function of the profile and the seed.

Rows with any numeric feature missing or non-numeric are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from stream_monitor.windows.persist import Persistent
from stream_monitor.windows.reference_profile import NumericProfile, ReferenceCache, ReferenceProfile
from stream_monitor.windows.state import EmbeddingState

__all__ = ["EmbeddingAccumulator", "FeatureMap", "embedding_parameters", "normal_scores", "random_features",
           "score_table"]


ScoreTable = tuple[np.ndarray, np.ndarray, int]  # knots, the reference CDF at them, n


def score_table(profile: NumericProfile) -> ScoreTable:
    """The piecewise-linear reference CDF of ``profile`` that :func:`normal_scores` reads."""
    n = max(profile.n, 1)
    knots = np.concatenate([[profile.minimum], profile.edges, [profile.maximum]])
    cdf = np.concatenate([[0.0], np.cumsum(profile.counts) / n])
    knots, keep = np.unique(knots, return_index=True)  # ties (discrete values): first occurrence
    return knots, cdf[keep], n


def normal_scores(values: np.ndarray, profile: NumericProfile | ScoreTable) -> np.ndarray:
    """Map values to normal scores through the reference CDF of ``profile`` (or its table)."""
    knots, cdf, n = profile if isinstance(profile, tuple) else score_table(profile)
    u = np.interp(values, knots, cdf)
    u = np.clip(u, 0.5 / n, 1.0 - 0.5 / n)
    return np.asarray(special.ndtri(u), dtype=float)


@dataclass(frozen=True, slots=True)
class FeatureMap:
    """The embedding of one reference: which features, their transforms, the frequencies,
    and the reference sample's mean feature and covariance summary."""

    features: tuple[str, ...]
    tables: tuple[ScoreTable, ...]  # each feature's transform to normal scores (score_table of its profile)
    omega: np.ndarray  # (d, D) frequencies
    phase_free: bool  # cos and sin pairs (always True; kept for clarity in snapshots)
    bandwidth: float
    ref_mean: np.ndarray  # (2D,)
    ref_trace: float  # tr(Sigma) of the reference features
    ref_frob2: float  # ||Sigma||_F^2
    ref_n: int

    @classmethod
    def cached(cls, reference: ReferenceProfile, *, n_features: int, seed: int) -> FeatureMap | None:
        """:meth:`build`, shared by every model version on the same reference (the map is
        immutable): a version that comes and goes does not pay the build again (its
        pairwise distances grow with the square of the sample: ~0.2 s at 2,000 rows)."""
        return _CACHE.get(reference, (n_features, seed),
                          lambda: cls.build(reference, n_features=n_features, seed=seed))

    @classmethod
    def build(cls, reference: ReferenceProfile, *, n_features: int, seed: int) -> FeatureMap | None:
        """The map for ``reference``, or ``None`` without a usable sample."""
        sample = reference.sample
        if sample is None or len(sample.rows) < 20 or not sample.features:
            return None
        x = np.asarray(sample.rows, dtype=float)
        profiles = tuple(p for f in sample.features if isinstance(p := reference.features[f], NumericProfile))
        if len(profiles) != len(sample.features):
            return None
        full = sample.embedding
        known = full.bandwidth if full is not None and (full.n_features, full.seed) == (n_features, seed) else None
        bandwidth, omega = embedding_parameters(x, n_features=n_features, seed=seed, bandwidth=known)
        tables = tuple(score_table(p) for p in profiles)
        z = random_features(x, omega)
        cov = np.cov(z, rowvar=False)
        mean, rows = z.mean(axis=0), len(x)
        if full is not None and (full.n_features, full.seed) == (n_features, seed) and full.rows > rows:
            # the mean over every complete reference row: its error does not repeat a window's
            mean, rows = np.asarray(full.mean, dtype=float), full.rows
        return cls(sample.features, tables, omega, True, bandwidth, mean,
                   float(np.trace(cov)), float(np.sum(cov * cov)), rows)

    @property
    def size(self) -> int:
        return 2 * int(self.omega.shape[1])

    def embed(self, scores: np.ndarray) -> np.ndarray:
        """Random Fourier features of rows already in normal scores: (rows, 2D)."""
        return random_features(scores, self.omega)

    def rows(self, rows: Sequence[Mapping[str, Any]], columns: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Normal scores of the complete rows among ``rows`` (feature dicts).

        ``columns`` may hold, per feature, its values in ``rows`` when all of them
        are floats (the window has them already); other features are read from ``rows``.
        """
        cols = []
        for name in self.features:
            raw = columns.get(name) if columns is not None else None
            if raw is None:
                raw = np.fromiter(
                    (v if type(v) is float else np.nan for v in (r.get(name) for r in rows)), float, count=len(rows)
                )
            cols.append(raw)
        x = np.column_stack(cols) if cols else np.zeros((len(rows), 0))
        x = x[np.all(np.isfinite(x), axis=1)]
        for j, table in enumerate(self.tables):
            x[:, j] = normal_scores(x[:, j], table)
        return x


def embedding_parameters(sample: np.ndarray, *, n_features: int, seed: int,
                         bandwidth: float | None = None) -> tuple[float, np.ndarray]:
    """The kernel bandwidth (median pairwise distance of the sample, in normal scores;
    ``bandwidth`` when the profile has it already) and the ``(d, n_features)`` seeded
    frequencies of the embedding."""
    if bandwidth is None:
        bandwidth = median_distance(sample)
    rng = np.random.default_rng([seed, 0x4D4D44])
    return bandwidth, rng.standard_normal((sample.shape[1], n_features)) / bandwidth


def median_distance(sample: np.ndarray) -> float:
    """The median Euclidean distance between the rows of ``sample`` (1.0 if it is 0)."""
    # The same operations as max(sq_i + sq_j - 2 x_i.x_j, 0) written out, done in place: the
    # temporaries of that expression (five n x n arrays) and the index arrays of the upper
    # triangle were the largest allocations of a model's start (about 30 MB at 1,000 rows).
    sq = np.sum(sample * sample, axis=1)
    d2 = sample @ sample.T
    d2 *= 2
    for i in range(0, len(sample), 128):  # (sq_i + sq_j) - 2 x_i.x_j, a block of rows at a time
        np.subtract(sq[i:i + 128, None] + sq[None, :], d2[i:i + 128], out=d2[i:i + 128])
    np.maximum(d2, 0.0, out=d2)
    upper = d2[np.triu(np.ones(d2.shape, dtype=bool), 1)]  # row by row, as triu_indices orders them
    del d2
    return float(np.sqrt(np.median(upper, overwrite_input=True))) or 1.0


def random_features(scores: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """Random Fourier features of rows in normal scores: (rows, 2 x frequencies)."""
    proj = scores @ omega
    d = omega.shape[1]
    scale = 1.0 / np.sqrt(d)
    embedded = np.empty((proj.shape[0], 2 * d))  # cosines then sines, written in place
    np.cos(proj, out=embedded[:, :d])
    np.sin(proj, out=embedded[:, d:])
    embedded *= scale
    return embedded


_CACHE: ReferenceCache[FeatureMap | None] = ReferenceCache()

# Embedded values are summed in fixed point (units of 2**-24, about 6e-8): integer
# sums are exact in any order, so merging parts equals accumulating the whole.
_FIXED = float(2**24)


@dataclass(slots=True)
class EmbeddingAccumulator(Persistent[EmbeddingState]):
    """The sum of the embedded rows of a window (fixed point, int64) and their count;
    exactly mergeable."""

    State = EmbeddingState
    total: np.ndarray
    n: int = 0

    @classmethod
    def empty(cls, size: int) -> EmbeddingAccumulator:
        return cls(np.zeros(size, dtype=np.int64))

    def update(self, embedded: np.ndarray) -> None:
        if embedded.shape[0]:
            self.total = self.total + np.rint(embedded * _FIXED).astype(np.int64).sum(axis=0)
            self.n += int(embedded.shape[0])

    def merge(self, other: EmbeddingAccumulator) -> EmbeddingAccumulator:
        return EmbeddingAccumulator(self.total + other.total, self.n + other.n)

    def mean(self) -> np.ndarray:
        return self.total / (_FIXED * self.n) if self.n else np.zeros(self.total.shape)

