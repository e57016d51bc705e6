"""Feature values column by column: picking them from events' rows and reading a column
once as numbers or category keys, with its missing and mismatched values counted.

A window, the sequential detectors and the seasonal CUSUMs read the same columns: each
named feature's value per event, aligned with the events (``None`` where absent); a column
whose values are all floats becomes one float array, read once for all of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.windows.profile import categorical_key

__all__ = ["Column", "WindowEvent", "categorical_column", "columns_of", "feature_columns", "float_arrays",
           "joined_columns", "named_columns", "numeric_column", "prediction_values"]

Column = Sequence[Any] | np.ndarray  # one feature's values per event; a float array once all are floats
WindowEvent = PredictionEvent | FeatureEvent


def columns_of(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, Sequence[Any]]:
    """The value of each named feature in each row (``None`` when absent), column by column.

    When every row has every name (the common case) one C-level pass picks the
    values and transposes them; otherwise each column is read with ``dict.get``.
    """
    if not names:
        return {}
    if len(names) > 1:
        try:
            return dict(zip(names, zip(*map(itemgetter(*names), rows), strict=True), strict=True))
        except KeyError:
            pass
    return {name: [r.get(name) for r in rows] for name in names}


def feature_columns(events: Sequence[WindowEvent], names: Sequence[str]) -> dict[str, Sequence[Any]] | None:
    """Each named feature's value per event, aligned with ``events``; ``None`` unless
    every event carries features (then the caller reads them its own way)."""
    rows = [e.features for e in events]
    if not rows or any(r is None for r in rows):
        return None
    return columns_of(rows, names)  # type: ignore[arg-type]


def joined_columns(runs: Sequence[tuple[int, int, Mapping[str, list[Any]]]] | None, n: int
                   ) -> dict[str, list[Any]] | None:
    """The feature columns of ``n`` events from those of consecutive runs of them (where each
    run starts, its length, its columns), or ``None`` unless the runs cover every event once,
    in order. A name that one run lacks is ``None`` there, as it is in that run's events."""
    if not runs:
        return None
    at = 0
    for start, length, _ in runs:
        if start != at:
            return None
        at += length
    if at != n:
        return None
    if len(runs) == 1:
        return dict(runs[0][2])
    names = dict.fromkeys(chain.from_iterable(cols for _, _, cols in runs))
    return {name: list(chain.from_iterable(cols.get(name) or [None] * length for _, length, cols in runs))
            for name in names}


def named_columns(columns: Mapping[str, Sequence[Any]], names: Sequence[str], n: int) -> dict[str, Sequence[Any]]:
    """Each named column of ``columns`` of ``n`` events (all ``None`` where it has none): what
    :func:`feature_columns` reads from the events that carry these columns."""
    return {name: col if (col := columns.get(name)) is not None else [None] * n for name in names}


def prediction_values(events: Sequence[WindowEvent], prediction_type: str) -> list[Any]:
    """The prediction's value per event (the score for ``score`` models, when given),
    ``None`` for feature events: the prediction's column."""
    if prediction_type == "score":
        return [(e.prediction if e.score is None else e.score) if isinstance(e, PredictionEvent) else None
                for e in events]
    return [e.prediction if isinstance(e, PredictionEvent) else None for e in events]


def float_arrays(columns: Mapping[str, Sequence[Any]], names: Sequence[str]) -> dict[str, Column]:
    """``columns`` (from :func:`feature_columns`) with each named column whose values are
    all floats as a float array, read once for the window and the sequential detectors."""
    out: dict[str, Column] = dict(columns)
    for name in names:
        col = columns[name]
        if col and set(map(type, col)) == {float}:
            out[name] = np.array(col, dtype=float)
    return out


def numeric_column(values: Column) -> tuple[np.ndarray, int, int]:
    if isinstance(values, np.ndarray):  # from float_arrays: every value a float
        return values, 0, 0
    if values and set(map(type, values)) == {float}:  # every value valid: no Python loop
        return np.array(values, dtype=float), 0, 0
    good: list[float] = []
    missing = mismatched = 0
    for v in values:
        if v is None:
            missing += 1
        elif type(v) is float:
            good.append(v)
        else:
            mismatched += 1
    return np.asarray(good, dtype=float), missing, mismatched


def categorical_column(values: Column) -> tuple[Sequence[str], int]:
    if not isinstance(values, np.ndarray) and values and set(map(type, values)) == {str} and "" not in values:
        return values, 0  # non-empty strings are their own keys (categorical_key)
    keys: list[str] = []
    missing = 0
    for v in values:
        k = categorical_key(v)
        if k is None:
            missing += 1
        else:
            keys.append(k)
    return keys, missing
