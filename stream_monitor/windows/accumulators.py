"""Mergeable per-feature accumulators on reference-derived bins.

Each accumulator has an empty value (:meth:`empty`), a batch update, a
:meth:`merge` and a JSON-able state (:meth:`to_state` / :meth:`from_state`).
Merging two accumulators equals accumulating the concatenated input, which
makes partition hand-over and restarts cheap. Updates are columnar: one numpy
call per feature per batch, not per event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from stream_monitor.windows.columns import Column, categorical_column, numeric_column
from stream_monitor.windows.persist import Persistent
from stream_monitor.windows.profile import CategoricalProfile, NumericProfile
from stream_monitor.windows.state import CategoricalState, NumericState

__all__ = ["Accumulator", "Binned", "Binning", "CategoricalAccumulator", "NumericAccumulator", "add_column",
           "bin_columns", "bin_index", "binning_for", "reference_counts"]


@dataclass(frozen=True, slots=True)
class Binning:
    """A profile compiled for fast lookups: numpy edges or a category index."""

    edges: np.ndarray | None = None
    minimum: float = 0.0
    maximum: float = 0.0
    index: Mapping[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.edges.size + 1 if self.edges is not None else len(self.index) + 1


def binning_for(profile: NumericProfile | CategoricalProfile) -> Binning:
    if isinstance(profile, NumericProfile):
        return Binning(
            edges=np.asarray(profile.edges, dtype=float),
            minimum=profile.minimum,
            maximum=profile.maximum,
        )
    return Binning(index={c: i for i, c in enumerate(profile.categories)})


def bin_index(binning: Binning, values: Column) -> np.ndarray | None:
    """Each value's bin when no value needs checking, else ``None``.

    A numeric binning bins a float array (from
    :func:`~stream_monitor.windows.columns.float_arrays`) as
    :meth:`NumericAccumulator.update` does (NaN in the last bin); a categorical one
    bins values that are all non-empty strings as :meth:`CategoricalAccumulator.update`
    does (unlisted ones in the last bin, the pooled one).
    """
    if binning.edges is not None:
        return np.searchsorted(binning.edges, values, side="right") if isinstance(values, np.ndarray) else None
    if isinstance(values, np.ndarray) or not values or set(map(type, values)) != {str} or "" in values:
        return None
    other = len(binning.index)
    return np.fromiter(map(binning.index.get, values, repeat(other)), dtype=np.int64, count=len(values))


Binned = tuple[Binning, np.ndarray]  # a binning and the bin of each value of a column (bin_index)


def bin_columns(binnings: Iterable[tuple[str, Binning]], columns: Mapping[str, Column]) -> dict[str, Binned]:
    """The bins of each named column that :func:`bin_index` can bin, with the binning used:
    computed once per batch for the window and the sequential detectors."""
    out: dict[str, Binned] = {}
    for name, binning in binnings:
        values = columns.get(name)
        if values is not None and (bins := bin_index(binning, values)) is not None:
            out[name] = binning, bins
    return out


# Moments take values clipped to +-1e150, so that no sum of squares of a window (up to 1e8
# values) overflows a float: a finite 1e154 squared is inf, and inf - inf is nan. Such a value
# still counts above the reference maximum and in the last bin, and still dominates the moments.
MOMENT_LIMIT = 1e150


@dataclass(slots=True)
class NumericAccumulator(Persistent[NumericState]):
    """Histogram on the reference bins plus data-quality counters and moments."""

    State = NumericState
    counts: np.ndarray
    missing: int = 0
    mismatched: int = 0  # a non-number where a number was expected
    below: int = 0  # under the reference minimum
    above: int = 0  # over the reference maximum
    total: float = 0.0
    total_sq: float = 0.0

    @classmethod
    def empty(cls, binning: Binning) -> NumericAccumulator:
        return cls(counts=np.zeros(binning.size, dtype=np.int64))

    @property
    def n(self) -> int:
        """Number of valid (finite, numeric) values seen."""
        return int(self.counts.sum())

    @property
    def observed(self) -> int:
        """Every value seen, including missing and mismatched ones."""
        return self.n + self.missing + self.mismatched

    def update(self, values: np.ndarray, binning: Binning, *, missing: int = 0, mismatched: int = 0,
               bins: np.ndarray | None = None) -> None:
        """Add finite ``values`` (1-d float array) and the given counts of bad ones; ``bins``
        are the values' bins when the caller has them already (:func:`bin_index`)."""
        assert binning.edges is not None
        if values.size:
            idx = np.searchsorted(binning.edges, values, side="right") if bins is None else bins
            self.counts += np.bincount(idx, minlength=self.counts.size)
            self.below += int(np.count_nonzero(values < binning.minimum))
            self.above += int(np.count_nonzero(values > binning.maximum))
            if np.abs(values).max() > MOMENT_LIMIT:  # rare: a value no reference is near
                values = np.clip(values, -MOMENT_LIMIT, MOMENT_LIMIT)
            self.total += float(values.sum())
            self.total_sq += float(np.dot(values, values))
        self.missing += missing
        self.mismatched += mismatched

    def merge(self, other: NumericAccumulator) -> NumericAccumulator:
        return NumericAccumulator(
            counts=self.counts + other.counts,
            missing=self.missing + other.missing,
            mismatched=self.mismatched + other.mismatched,
            below=self.below + other.below,
            above=self.above + other.above,
            total=self.total + other.total,
            total_sq=self.total_sq + other.total_sq,
        )

    def mean(self) -> float:
        n = self.n
        return self.total / n if n else float("nan")

    def variance(self) -> float:
        n = self.n
        if n < 2:
            return float("nan")
        mean = self.total / n
        return max(self.total_sq / n - mean * mean, 0.0) * n / (n - 1)



@dataclass(slots=True)
class CategoricalAccumulator(Persistent[CategoricalState]):
    """Counts per reference category; the last bin pools every other value."""

    State = CategoricalState
    counts: np.ndarray
    missing: int = 0
    mismatched: int = 0

    @classmethod
    def empty(cls, binning: Binning) -> CategoricalAccumulator:
        return cls(counts=np.zeros(binning.size, dtype=np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def observed(self) -> int:
        return self.n + self.missing + self.mismatched

    @property
    def unseen(self) -> int:
        """Values outside the reference's listed categories."""
        return int(self.counts[-1])

    def update(self, keys: Sequence[str], binning: Binning, *, missing: int = 0, mismatched: int = 0) -> None:
        if keys:
            other = len(binning.index)
            self.add_bins(np.fromiter(map(binning.index.get, keys, repeat(other)), dtype=np.int64, count=len(keys)))
        self.missing += missing
        self.mismatched += mismatched

    def add_bins(self, bins: np.ndarray) -> None:
        """Count values already binned (:func:`bin_index`)."""
        self.counts += np.bincount(bins, minlength=self.counts.size)

    def merge(self, other: CategoricalAccumulator) -> CategoricalAccumulator:
        return CategoricalAccumulator(
            counts=self.counts + other.counts,
            missing=self.missing + other.missing,
            mismatched=self.mismatched + other.mismatched,
        )


Accumulator = NumericAccumulator | CategoricalAccumulator


def add_column(
    acc: Accumulator, binning: Binning, values: Column, bins: Mapping[str, Binned] | None = None, name: str = ""
) -> np.ndarray | None:
    """Add one column (binned already when ``bins`` has ``name`` by ``binning``); returns the
    valid values of a numeric column that had no bad ones."""
    got = bins.get(name) if bins is not None else None
    binned = got[1] if got is not None and got[0] is binning else None
    if isinstance(acc, NumericAccumulator):
        good, missing, mismatched = numeric_column(values)
        acc.update(good, binning, missing=missing, mismatched=mismatched, bins=binned)
        return good if good.size == len(values) else None
    if binned is not None:
        acc.add_bins(binned)
        return None
    keys, missing = categorical_column(values)
    acc.update(keys, binning, missing=missing)
    return None


def reference_counts(profile: NumericProfile | CategoricalProfile) -> np.ndarray:
    """The reference counts on the same bins as a window accumulator."""
    if isinstance(profile, NumericProfile):
        return np.asarray(profile.counts, dtype=np.int64)
    return np.asarray(profile.bin_counts(), dtype=np.int64)
