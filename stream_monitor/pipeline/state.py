"""The persisted state of the pipeline: one frozen model per monitor part.

The window and detector parts are the models of :mod:`stream_monitor.windows.state` and
:mod:`stream_monitor.detectors.state`; the decision policy's state is its own dataclass
(:class:`~stream_monitor.decisions.state.PolicyState`), which pydantic validates and dumps
field by field. :mod:`stream_monitor.pipeline.snapshot` puts them together with the schema
version and the migrations from older snapshots.

Parts a model may not have (sequential detectors, segments, seasonality, the feature join)
are ``None`` and left out of the dump, so a snapshot only shows what is configured.

Examples
--------
>>> s = FeatureJoinState(watermark=3.0, preds=[("e1", "v1", 1.0, ["north"])], feats=[])
>>> FeatureJoinState.model_validate_json(s.model_dump_json()) == s
True
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, JsonValue, SerializerFunctionWrapHandler, model_serializer

from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.state import CusumState, StreamingState
from stream_monitor.windows.groups import GroupCounts
from stream_monitor.windows.profile import ReferenceProfile
from stream_monitor.windows.state import (
    STATE_CONFIG,
    PairWindowState,
    PerformanceState,
    PredictionWindowState,
    SegmentsState,
    WindowState,
)

__all__ = [
    "FeatureJoinState",
    "LabelJoinState",
    "ModelMonitorState",
    "OutcomeMonitorState",
    "OutcomeVersionState",
    "VersionSnapshot",
]


class _OmitNone(BaseModel):
    """Dumps leave out the optional parts (``_OPTIONAL``) that are ``None``."""

    model_config = STATE_CONFIG
    _OPTIONAL: frozenset[str] = frozenset()

    @model_serializer(mode="wrap")
    def _omit(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        for name in self._OPTIONAL:
            if out.get(name, 0) is None:
                del out[name]
        return out


class VersionSnapshot(_OmitNone):
    """One model version of the drift path (:class:`~stream_monitor.pipeline.version_state.VersionState`).

    ``reference`` is kept only when it was learned; ``learning`` holds the rows still
    being learned from (``None`` once the reference exists)."""

    _OPTIONAL = frozenset({"cusum", "segments", "phases"})
    reference: ReferenceProfile | None
    learning: list[dict[str, JsonValue]] | None
    window: WindowState | None
    policy: PolicyState
    streams: dict[str, StreamingState]
    stream_marks: dict[str, int]
    healthy: list[WindowState]
    incarnation: str
    cusum: CusumState | None = None
    segments: SegmentsState | None = None
    phases: list[int] | None = None


class FeatureJoinState(BaseModel):
    """:class:`~stream_monitor.pipeline.feature_join.FeatureJoin`: waiting predictions
    (event id, version, time, segment groups) and feature events (..., features)."""

    model_config = STATE_CONFIG
    watermark: float | None
    preds: list[tuple[str, str, float, list[str]]]
    feats: list[tuple[str, str, float, dict[str, JsonValue]]]


class ModelMonitorState(_OmitNone):
    """:class:`~stream_monitor.pipeline.model_monitor.ModelMonitor`; ``params`` hashes the
    parameters that shaped the state."""

    _OPTIONAL = frozenset({"feature_join"})
    params: str
    versions: dict[str, VersionSnapshot]
    feature_join: FeatureJoinState | None = None


class LabelJoinState(BaseModel):
    """:class:`~stream_monitor.pipeline.joins.JoinBuffer`.

    ``preds`` rows: event id, version, time, payload, pinned (0/1); ``labels`` rows: event
    id, time, label, label version, joined versions; ``tombstones``: expired ids and their
    times; ``delays``: the label-delay histogram; ``ttl``: the adaptive TTL."""

    model_config = STATE_CONFIG
    watermark: float | None
    preds: list[tuple[str, str, float, list[JsonValue], int]]
    labels: list[tuple[str, float, JsonValue, JsonValue, list[str]]]
    tombstones: list[tuple[str, float]]
    halvings: int
    delays: list[int]
    ttl: float | None  # None: the configured maximum


class OutcomeVersionState(BaseModel):
    """One model version of the label path (:class:`~stream_monitor.pipeline.label_monitor.VersionOutcomes`).

    ``reference`` rows are (value, standard error, n) per metric; ``counts`` is
    (predictions, labelled); ``reference_period`` is (admitted, last time, joined)."""

    model_config = STATE_CONFIG
    preds: PredictionWindowState
    pairs: PairWindowState
    reference: dict[str, tuple[float, float, int]] | None
    learning: PerformanceState | None
    shares: dict[str, dict[str, float]]
    share_learning: dict[str, GroupCounts] | None
    concept: dict[str, StreamingState]
    marks: dict[str, int]
    pair_policy: PolicyState
    pred_policy: PolicyState
    counts: tuple[int, int]
    reference_period: tuple[int, float | None, int]
    incarnation: str


class OutcomeMonitorState(BaseModel):
    """:class:`~stream_monitor.pipeline.label_monitor.OutcomeMonitor`."""

    model_config = STATE_CONFIG
    params: str
    versions: dict[str, OutcomeVersionState]
    join: LabelJoinState | None
