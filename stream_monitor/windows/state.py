"""The persisted state of the window layer: one frozen model per accumulator and window.

Each component inherits ``to_state()`` and ``from_state()`` from
:class:`~stream_monitor.windows.persist.Persistent`, derived from these fields (``From``
names the live attributes where they differ); serialisation is pydantic's (``model_dump`` /
``model_validate``), never hand-written. The models compose into the pipeline's snapshot
(:mod:`stream_monitor.pipeline.snapshot`), which carries the schema version and the
migrations from older snapshots. Field names and shapes are those of the version-1
snapshot, so a version-1 part validates as it is; compact positional rows (an estimate,
a metric value) are models stored as one JSON array each, and the log-loss triple a typed
tuple. Plain dataclasses (:class:`~stream_monitor.windows.groups.GroupCounts`)
are validated and dumped by pydantic as they are.

Examples
--------
>>> s = CategoricalState(counts=[3, 0, 1], missing=0, mismatched=2)
>>> CategoricalState.model_validate_json(s.model_dump_json()) == s
True
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from stream_monitor.windows.groups import GroupCounts
from stream_monitor.windows.persist import Configured, From, Int64Array
from stream_monitor.windows.persist_mappings import as_rows

__all__ = [
    "STATE_CONFIG",
    "CategoricalState",
    "EmbeddingState",
    "EstimateState",
    "MetricState",
    "NumericState",
    "PairWindowState",
    "PerformanceState",
    "PredictionWindowState",
    "SegmentsState",
    "WindowState",
]

# Frozen, no unknown fields; non-finite floats written as JSON's Infinity/NaN (as json.dumps did).
STATE_CONFIG = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class NumericState(BaseModel):
    """:class:`~stream_monitor.windows.accumulators.NumericAccumulator`."""

    model_config = STATE_CONFIG
    counts: Int64Array
    missing: int
    mismatched: int
    below: int
    above: int
    total: float
    total_sq: float


class CategoricalState(BaseModel):
    """:class:`~stream_monitor.windows.accumulators.CategoricalAccumulator`."""

    model_config = STATE_CONFIG
    counts: Int64Array
    missing: int
    mismatched: int


class EmbeddingState(BaseModel):
    """:class:`~stream_monitor.windows.embedding.EmbeddingAccumulator` (fixed-point totals)."""

    model_config = STATE_CONFIG
    total: Int64Array
    n: int


class WindowState(BaseModel):
    """:class:`~stream_monitor.windows.window.Window`. A feature's accumulator is numeric or
    categorical as the layout says; the two models have disjoint required fields."""

    model_config = STATE_CONFIG
    index: int
    n: int
    first_ts: float | None
    start_ts: float | None
    end_ts: float | None
    features: Annotated[dict[str, NumericState | CategoricalState], From("accumulators")]
    prediction: NumericState | CategoricalState | None
    embedding: EmbeddingState | None


class SegmentsState(BaseModel):
    """:class:`~stream_monitor.windows.segments.SegmentWindows`: ``params`` hashes the
    configured groups; ``windows`` holds (attribute, group, window), restored for the
    configured groups only."""

    model_config = STATE_CONFIG
    params: str
    windows: Annotated[list[tuple[str, str, WindowState]], as_rows(2, single=True), Configured()]


class _Row(BaseModel):
    """A model stored as one positional row of its fields, in their order."""

    model_config = STATE_CONFIG

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            return dict(zip(cls.model_fields, data, strict=True))
        return data

    @model_serializer(mode="plain")
    def _to_row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in type(self).model_fields)


class EstimateState(_Row):
    """:class:`~stream_monitor.windows.outcome_windows.Estimate`, stored as one row: bins, n,
    sum of p, sum of p(1 - p), positive and negative mass per score bin."""

    bins: int
    n: int
    p_sum: float
    pq_sum: float
    pos: list[float]
    neg: list[float]


class MetricState(_Row):
    """:class:`~stream_monitor.windows.metric_values.MetricValue`, stored as one row: value,
    standard error, n."""

    value: float
    se: float
    n: int


class PerformanceState(BaseModel):
    """:class:`~stream_monitor.windows.performance.PerformanceAccumulator`; ``ll`` is
    (count, sum, sum of squares) of the log loss."""

    model_config = STATE_CONFIG
    task: str
    bins: int
    max_classes: int
    classes: list[str]
    confusion: dict[str, dict[str, int]]
    pos_bins: dict[str, list[float]]
    neg_bins: dict[str, list[float]]
    score_sum: dict[str, list[float]]
    ll: Annotated[tuple[int, float, float], From("ll_n", "ll_sum", "ll_sq")]
    n: int
    sums: dict[str, float]


class PredictionWindowState(BaseModel):
    """:class:`~stream_monitor.windows.outcome_windows.PredictionWindow`."""

    model_config = STATE_CONFIG
    index: int
    n: int
    start: float | None
    end: float | None
    groups: dict[str, GroupCounts]
    estimate: EstimateState
    histogram: list[float]


class PairWindowState(BaseModel):
    """:class:`~stream_monitor.windows.outcome_windows.PairWindow`."""

    model_config = STATE_CONFIG
    index: int
    start: float | None
    end: float | None
    performance: PerformanceState
    groups: dict[str, GroupCounts]
    estimate: EstimateState
