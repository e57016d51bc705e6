"""A tumbling window of one model version, and the pure maths of its boundaries.

A window counts prediction events. It closes after ``WindowSpec.events`` of them,
or before the first event whose event time is ``WindowSpec.seconds`` or more
after the window's first event. Feature events (inputs logged on their own
topic) add to the current window's feature histograms without counting.
Boundaries depend only on the timestamps and order passed in, never on a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stream_monitor.events.models import PredictionEvent
from stream_monitor.specs.inputs import WindowSpec
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.accumulators import (
    Accumulator,
    Binned,
    Binning,
    CategoricalAccumulator,
    NumericAccumulator,
    add_column,
    binning_for,
)
from stream_monitor.windows.columns import Column, WindowEvent, columns_of
from stream_monitor.windows.embedding import EmbeddingAccumulator, FeatureMap
from stream_monitor.windows.persist import Persistent, restore
from stream_monitor.windows.profile import PREDICTION, ReferenceProfile
from stream_monitor.windows.state import WindowState

__all__ = ["Accumulator", "Window", "WindowLayout", "next_boundary"]


def next_boundary(
    timestamps: Sequence[float],
    counted: Sequence[bool],
    start: int,
    n: int,
    first_ts: float | None,
    spec: WindowSpec,
) -> tuple[int, bool]:
    """Find where the current window ends, scanning events from ``start``.

    Parameters
    ----------
    timestamps, counted
        Event times and whether each event counts towards ``spec.events``.
    n, first_ts
        The window's count so far and the time of its first event (``None`` if empty).

    Returns
    -------
    (end, closes)
        Events ``[start, end)`` belong to the current window; ``closes`` tells
        whether the window closes at ``end``.

    Examples
    --------
    >>> spec = WindowSpec(events=10, seconds=60)
    >>> next_boundary([0, 30, 59, 60, 61], [True] * 5, 0, 0, None, spec)
    (3, True)
    >>> next_boundary([5, 6], [True, True], 0, 9, 0.0, spec)
    (1, True)
    >>> next_boundary([5, 6], [True, False], 0, 0, None, spec)
    (2, False)
    """
    cap = spec.events
    limit = first_ts + spec.seconds if (first_ts is not None and spec.seconds is not None) else None
    for j in range(start, len(timestamps)):
        t = timestamps[j]
        if limit is None:
            if spec.seconds is not None:
                limit = t + spec.seconds
        elif t >= limit:
            return j, True
        if counted[j]:
            n += 1
            if cap is not None and n >= cap:
                return j + 1, True
    return len(timestamps), False


@dataclass(frozen=True, slots=True)
class WindowLayout:
    """Which accumulators a window of this model holds, compiled from its reference."""

    numeric: tuple[tuple[str, Binning], ...]
    categorical: tuple[tuple[str, Binning], ...]
    prediction: Binning | None
    prediction_type: str
    embedding: FeatureMap | None = None  # multivariate tests enabled and a reference sample present

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in (*self.numeric, *self.categorical))

    @classmethod
    def build(cls, spec: ModelSpec, reference: ReferenceProfile) -> WindowLayout:
        numeric: list[tuple[str, Binning]] = []
        categorical: list[tuple[str, Binning]] = []
        for f in spec.features:
            b = binning_for(reference.features[f.name])
            (numeric if f.type == "numeric" else categorical).append((f.name, b))
        pred = binning_for(reference.prediction) if reference.prediction is not None else None
        det = spec.detectors
        embedding = (
            FeatureMap.cached(reference, n_features=det.mmd_features, seed=det.seed) if det.multivariate else None
        )
        return cls(tuple(numeric), tuple(categorical), pred, spec.prediction.type, embedding)

    def empty_embedding(self) -> EmbeddingAccumulator | None:
        return EmbeddingAccumulator.empty(self.embedding.size) if self.embedding is not None else None

    def empty_accumulators(self) -> dict[str, Accumulator]:
        accs: dict[str, Accumulator] = {n: NumericAccumulator.empty(b) for n, b in self.numeric}
        accs.update({n: CategoricalAccumulator.empty(b) for n, b in self.categorical})
        return accs

    def empty_prediction(self) -> Accumulator | None:
        if self.prediction is None:
            return None
        if self.prediction.edges is not None:
            return NumericAccumulator.empty(self.prediction)
        return CategoricalAccumulator.empty(self.prediction)

    def prediction_value(self, event: PredictionEvent) -> Any:
        if self.prediction_type == "score":
            return event.score if event.score is not None else event.prediction
        return event.prediction


@dataclass(slots=True)
class Window(Persistent[WindowState]):
    """Accumulated statistics of one window; mergeable and JSON-serialisable."""

    State = WindowState
    index: int
    accumulators: dict[str, Accumulator]
    prediction: Accumulator | None
    n: int = 0
    first_ts: float | None = None
    start_ts: float | None = None
    end_ts: float | None = None
    embedding: EmbeddingAccumulator | None = None  # the multivariate sum, when enabled

    @classmethod
    def empty(cls, index: int, layout: WindowLayout) -> Window:
        return cls(index=index, accumulators=layout.empty_accumulators(), prediction=layout.empty_prediction(),
                   embedding=layout.empty_embedding())

    def add(
        self,
        events: Sequence[WindowEvent],
        layout: WindowLayout,
        columns: Mapping[str, Column] | None = None,
        bins: Mapping[str, Binned] | None = None,
        predictions: Column | None = None,
    ) -> None:
        """Add events (in order) that all belong to this window.

        ``columns`` (from :func:`feature_columns`, aligned with ``events``) saves
        reading the features again when the caller has them already; ``bins``
        (:func:`~stream_monitor.windows.accumulators.bin_columns` of ``columns`` and,
        as ``__prediction__``, of ``predictions``) saves binning them, and
        ``predictions`` (the prediction value per event) reading the predictions.
        """
        if not events:
            return
        ts = [e.timestamp for e in events]
        if self.first_ts is None:
            self.first_ts = ts[0]
        lo, hi = min(ts), max(ts)
        self.start_ts = lo if self.start_ts is None else min(self.start_ts, lo)
        self.end_ts = hi if self.end_ts is None else max(self.end_ts, hi)
        rows = [e.features for e in events if e.features is not None]
        if rows:
            if columns is None or len(rows) != len(events):
                columns, bins = columns_of(rows, layout.names), None
            complete: dict[str, np.ndarray] = {}  # numeric columns without a bad value
            for name, binning in (*layout.numeric, *layout.categorical):
                good = add_column(self.accumulators[name], binning, columns[name], bins, name)
                if good is not None:
                    complete[name] = good
            if self.embedding is not None and layout.embedding is not None:
                self.embedding.update(layout.embedding.embed(layout.embedding.rows(rows, complete)))
        preds = [e for e in events if isinstance(e, PredictionEvent)]
        self.n += len(preds)
        if preds and self.prediction is not None and layout.prediction is not None:
            if predictions is None or len(preds) != len(events):
                predictions, bins = [layout.prediction_value(e) for e in preds], None
            add_column(self.prediction, layout.prediction, predictions, bins, PREDICTION)

    def merge(self, other: Window) -> Window:
        """Combine two partial windows of the same index."""
        pred = None
        if self.prediction is not None and other.prediction is not None:
            pred = self.prediction.merge(other.prediction)  # type: ignore[arg-type]

        def _pick(f: Any, a: float | None, b: float | None) -> float | None:
            vals = [x for x in (a, b) if x is not None]
            return f(vals) if vals else None

        return Window(
            index=self.index,
            accumulators={k: v.merge(other.accumulators[k]) for k, v in self.accumulators.items()},  # type: ignore[arg-type]
            prediction=pred,
            n=self.n + other.n,
            first_ts=_pick(min, self.first_ts, other.first_ts),
            start_ts=_pick(min, self.start_ts, other.start_ts),
            end_ts=_pick(max, self.end_ts, other.end_ts),
            embedding=self.embedding.merge(other.embedding)
            if self.embedding is not None and other.embedding is not None else None,
        )

    @classmethod
    def from_state(cls, state: WindowState, layout: WindowLayout | None = None) -> Window:
        """The window ``state`` describes, shaped by ``layout`` when given (see :meth:`fit`)."""
        window = restore(cls, state)
        if layout is not None:
            window.fit(layout)
        return window

    def fit(self, layout: WindowLayout) -> None:
        """Shape the window as ``layout``: its features in the layout's order (``KeyError``
        when one is missing), the layout's prediction and embedding (empty when the window
        has none); ``TypeError`` when an accumulator is of another kind than the layout's."""
        empty = Window.empty(self.index, layout)
        self.accumulators = {k: _same_kind(self.accumulators[k], acc) for k, acc in empty.accumulators.items()}
        self.prediction = (empty.prediction if self.prediction is None or empty.prediction is None
                           else _same_kind(self.prediction, empty.prediction))
        self.embedding = empty.embedding if self.embedding is None or empty.embedding is None else self.embedding


def _same_kind(got: Accumulator, want: Accumulator) -> Accumulator:
    if type(got) is not type(want):
        raise TypeError(f"a {type(got).__name__} state cannot restore a {type(want).__name__}")
    return got
