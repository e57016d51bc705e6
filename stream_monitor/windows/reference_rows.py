"""One pass over reference rows: what a profile is built from.

:class:`RowTally` takes the rows one at a time and keeps, per numeric feature, its values;
per categorical feature (and a categorical prediction), the counts of its keys; missing
cells per column; and two reservoir samples of the complete numeric rows (algorithm R):
the sample a profile keeps and the larger one behind the correlation matrix and the
embedding's mean. Each reservoir draws from its own seeded generator, so a profile is the
same for the same rows and seed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.reference_profile import _as_float, categorical_key, prediction_kind

__all__ = ["RowTally"]


class RowTally:
    """The values, counts, missing cells and samples of the reference rows seen so far."""

    def __init__(self, spec: ModelSpec, prediction_column: Sequence[str], *, correlation_rows: int) -> None:
        self.numeric: dict[str, list[float]] = {f.name: [] for f in spec.features if f.type == "numeric"}
        self.categorical: dict[str, Counter[str]] = {f.name: Counter() for f in spec.features if f.type != "numeric"}
        self.missing: Counter[str] = Counter()
        self.pred_num: list[float] = []
        self.pred_cat: Counter[str] = Counter()
        self.pred_missing = 0
        self.prediction_is_categorical = prediction_kind(spec) == "categorical"
        self.prediction_column = prediction_column
        self.rows = 0
        self.sample_size = spec.reference.sample_rows
        self.correlation_rows = correlation_rows
        self.reservoir: list[list[float]] = []
        self.wide: list[list[float]] = []  # the larger reservoir behind the correlation matrix
        self.complete = 0
        self.sampler = np.random.default_rng(spec.reference.sample_seed)
        self.wide_sampler = np.random.default_rng([spec.reference.sample_seed, 0x434F52])

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows += 1
        parsed: list[float | None] = []
        for name, vals in self.numeric.items():
            x = _as_float(row.get(name))
            parsed.append(x)
            if x is None:
                self.missing[name] += 1
            else:
                vals.append(x)
        if self.sample_size and parsed and all(x is not None for x in parsed):
            self.complete += 1
            _keep(self.reservoir, parsed, self.sample_size, self.complete, self.sampler)  # type: ignore[arg-type]
            _keep(self.wide, parsed, self.correlation_rows, self.complete, self.wide_sampler)  # type: ignore[arg-type]
        for name, counter in self.categorical.items():
            key = categorical_key(row.get(name))
            if key is None:
                self.missing[name] += 1
            else:
                counter[key] += 1
        raw = next((row[c] for c in self.prediction_column if row.get(c) not in (None, "")), None)
        self.pred_missing += not _tally(raw, self.prediction_is_categorical, self.pred_cat, self.pred_num)


def _tally(value: Any, categorical: bool, counts: Counter[str], values: list[float]) -> bool:
    """Count one cell into ``counts`` (categorical) or ``values`` (numeric); False when it is missing."""
    if categorical:
        key = categorical_key(value)
        if key is not None:
            counts[key] += 1
        return key is not None
    x = _as_float(value)
    if x is not None:
        values.append(x)
    return x is not None


def _keep(reservoir: list[list[float]], row: list[float], size: int, seen: int, rng: np.random.Generator) -> None:
    """Reservoir sampling (algorithm R): after ``seen`` rows, each is kept with chance ``size / seen``."""
    if len(reservoir) < size:
        reservoir.append(row)
    else:
        j = int(rng.integers(seen))
        if j < size:
            reservoir[j] = row
