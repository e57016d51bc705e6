"""The reference profile: the compact summary a window is compared against.

A profile holds, per feature, the bin edges derived from reference quantiles and
the reference counts in those bins (numeric), or the most frequent categories
and their counts (categorical), a sample of complete rows and, with seasonality,
the reference per phase bucket. These are the values; :mod:`stream_monitor.windows.profile`
builds them from rows, and everything that builds on them (the embedding, the
per-phase builder) imports them from here.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Annotated, Any, Generic, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.float_matrix import FloatMatrix
from stream_monitor.windows.seasonal import SeasonalProfile

__all__ = [
    "MULTIVARIATE",
    "PREDICTION",
    "CategoricalProfile",
    "NumericProfile",
    "ReferenceCache",
    "ReferenceEmbedding",
    "ReferenceProfile",
    "ReferenceSample",
    "as_float",
    "categorical_key",
    "prediction_kind",
]

PREDICTION = "__prediction__"
MULTIVARIATE = "__multivariate__"  # the "feature" name of multivariate readings
_FROZEN = ConfigDict(frozen=True, extra="forbid")
# Profiles are frozen and hashed once (about 0.6 ms each for a 25-feature profile with its
# sample): id -> (weak reference, fingerprint), dropped when the profile is.
_FINGERPRINTS: dict[int, tuple[weakref.ref[Any], str]] = {}


class NumericProfile(BaseModel):
    """Reference distribution of a numeric value on quantile bins.

    ``edges`` are the inner bin edges (strictly increasing); a value ``x`` falls
    in bin ``searchsorted(edges, x, side="right")``, so there are
    ``len(edges) + 1`` bins and as many ``counts``.
    """

    model_config = _FROZEN
    kind: Literal["numeric"] = "numeric"
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    missing: int = 0
    minimum: float
    maximum: float
    mean: float
    std: float
    kurtosis: float | None = None  # excess kurtosis; profiles built before it have None

    @property
    def n(self) -> int:
        return sum(self.counts)


class CategoricalProfile(BaseModel):
    """Reference frequencies of the most common categories; the rest are pooled
    in ``other`` (the last bin)."""

    model_config = _FROZEN
    kind: Literal["categorical"] = "categorical"
    categories: tuple[str, ...]
    counts: tuple[int, ...]
    other: int = 0
    missing: int = 0

    @property
    def n(self) -> int:
        return sum(self.counts) + self.other

    def bin_counts(self) -> tuple[int, ...]:
        """Counts over ``categories`` plus the pooled "other" bin."""
        return (*self.counts, self.other)


FeatureProfile = Annotated[NumericProfile | CategoricalProfile, Field(discriminator="kind")]


class ReferenceEmbedding(BaseModel):
    """The MMD's mean random feature over ``rows`` complete reference rows (the larger
    seeded sample behind the correlation, up to :data:`CORRELATION_ROWS`), for the
    embedding of ``n_features`` frequencies drawn with ``seed``.

    The sample of a profile is small (1,000 rows): its mean feature is off by as
    much as one window's, and that error is the same in every window, so an
    unlucky sample made consecutive stationary windows drift. The mean over all
    complete rows is several times closer, at the cost of ``2 x n_features`` numbers.
    """

    model_config = _FROZEN
    n_features: int
    seed: int
    rows: int
    mean: tuple[float, ...]
    # The kernel bandwidth of the embedding (the median distance between the sample's rows),
    # so that a worker need not compute every pairwise distance again. Profiles built before
    # it have none: the worker computes it, with the same result.
    bandwidth: float | None = None


class ReferenceSample(BaseModel):
    """A bounded, seeded sample of complete reference rows of the numeric
    features, in normal scores of each feature's reference CDF (4 decimals).
    Multivariate tests compare windows with it.

    ``correlation`` is the correlation matrix of those normal scores over a
    larger seeded sample (``correlation_rows`` complete rows, at most
    :data:`CORRELATION_ROWS`): the sequential detector's residual signals need
    it more precisely than the sample tells. Profiles built before it have none.

    Both matrices are :class:`~stream_monitor.windows.float_matrix.FloatMatrix`:
    one read-only float64 array each (160 kB for the default sample, against
    about 0.7 MB as tuples of float objects), read and written as JSON exactly
    as the tuples of tuples they replace.
    """

    model_config = _FROZEN
    features: tuple[str, ...]
    rows: FloatMatrix
    correlation: FloatMatrix | None = None
    correlation_rows: int = 0
    embedding: ReferenceEmbedding | None = None


class ReferenceProfile(BaseModel):
    """The reference of one model: a profile per feature and for the prediction."""

    model_config = _FROZEN
    schema_version: Literal[1] = 1
    model_id: str
    source: str
    rows: int
    features: dict[str, FeatureProfile]
    prediction: FeatureProfile | None = None
    sample: ReferenceSample | None = None  # profiles built before it have none
    seasonal: SeasonalProfile | None = None  # the reference per phase bucket, with ``seasonality`` only

    @model_serializer(mode="wrap")
    def _without_empty_seasonal(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Profiles without seasonality serialise (and hash) exactly as before it existed."""
        data = handler(self)
        if self.seasonal is None and isinstance(data, dict):
            data.pop("seasonal", None)
        return data

    def fingerprint(self) -> str:
        """A short content hash; decisions name the reference they used by it."""
        cached = _FINGERPRINTS.get(id(self))
        if cached is not None and cached[0]() is self:
            return cached[1]
        value = hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]
        key = id(self)
        _FINGERPRINTS[key] = (weakref.ref(self, lambda _: _FINGERPRINTS.pop(key, None)), value)
        return value


V = TypeVar("V")


class ReferenceCache(Generic[V]):
    """The last ``size`` results of a pure build from a reference profile, keyed by the
    profile's fingerprint and the build's parameters; thread-safe, the build runs
    outside the lock. Model versions on one reference share what is built from it."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, Hashable], V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, reference: ReferenceProfile, params: Hashable, build: Callable[[], V]) -> V:
        key = (reference.fingerprint(), params)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


def categorical_key(value: Any) -> str | None:
    """Normalise a categorical value to its string key; ``None`` means missing."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def prediction_kind(spec: ModelSpec) -> Literal["numeric", "categorical"]:
    return "categorical" if spec.prediction.type == "class" else "numeric"


def as_float(value: Any) -> float | None:
    """A finite float from a reference cell, or ``None`` (missing, non-numeric, bool, inf, nan)."""
    return _as_float(value)


def _as_float(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None
