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

from typing import Annotated, Any

from pydantic import BaseModel, JsonValue, SerializerFunctionWrapHandler, model_serializer

from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.state import CusumState, StreamingState
from stream_monitor.detectors.streaming import restore_concept, restore_streaming
from stream_monitor.detectors.streaming_base import StreamingBase
from stream_monitor.windows.groups import GroupCounts
from stream_monitor.windows.persist import Configured, From, Int64Array, Revive
from stream_monitor.windows.persist_mappings import as_rows
from stream_monitor.windows.profile import ReferenceProfile
from stream_monitor.windows.state import (
    STATE_CONFIG,
    MetricState,
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


def _streaming_detectors(states: dict[str, StreamingState]) -> dict[str, StreamingBase]:
    return {k: restore_streaming(s) for k, s in states.items()}


class VersionSnapshot(_OmitNone):
    """One model version of the drift path (:class:`~stream_monitor.pipeline.version_state.VersionState`).

    ``reference`` is kept only when it was learned; ``learning`` holds the rows still
    being learned from (``None`` once the reference exists). The streaming detectors and
    their marks are restored for the configured detectors only."""

    _OPTIONAL = frozenset({"cusum", "segments", "phases"})
    reference: Annotated[ReferenceProfile | None, From("learned_reference")]
    learning: list[dict[str, JsonValue]] | None
    window: WindowState | None
    policy: PolicyState
    streams: Annotated[dict[str, StreamingState], Revive(_streaming_detectors), Configured()]
    stream_marks: Annotated[dict[str, int], Configured()]
    healthy: list[WindowState]
    incarnation: str
    cusum: CusumState | None = None
    segments: SegmentsState | None = None
    phases: Int64Array | None = None


class FeatureJoinState(BaseModel):
    """:class:`~stream_monitor.pipeline.feature_join.FeatureJoin`: waiting predictions
    (event id, version, time, segment groups) and feature events (..., features)."""

    model_config = STATE_CONFIG
    watermark: float | None
    preds: Annotated[list[tuple[str, str, float, list[str]]], as_rows(2)]
    feats: Annotated[list[tuple[str, str, float, dict[str, JsonValue]]], as_rows(2)]


class ModelMonitorState(_OmitNone):
    """:class:`~stream_monitor.pipeline.model_monitor.ModelMonitor`; ``params`` hashes the
    parameters that shaped the state."""

    _OPTIONAL = frozenset({"feature_join"})
    params: Annotated[str, From("params_hash")]
    versions: dict[str, VersionSnapshot]
    feature_join: Annotated[FeatureJoinState | None, From("join")] = None


class LabelJoinState(BaseModel):
    """:class:`~stream_monitor.pipeline.joins.JoinBuffer`.

    ``preds`` rows: event id, version, time, payload, pinned (0/1); ``labels`` rows: event
    id, time, label, label version, joined versions; ``tombstones``: expired ids and their
    times; ``delays``: the label-delay histogram; ``ttl``: the adaptive TTL. The byte and
    delay counters are derived from these on load."""

    model_config = STATE_CONFIG
    watermark: float | None
    preds: Annotated[list[tuple[str, str, float, list[JsonValue], int]], as_rows(2, nested=True)]
    labels: Annotated[list[tuple[str, float, JsonValue, JsonValue, list[str]]], as_rows(1)]
    tombstones: Annotated[list[tuple[str, float]], as_rows(1, single=True)]
    halvings: int
    delays: list[int]
    ttl: float | None  # None: the configured maximum


def _concept_detectors(states: dict[str, StreamingState]) -> dict[str, StreamingBase]:
    return {k: restore_concept(s) for k, s in states.items()}


class OutcomeVersionState(BaseModel):
    """One model version of the label path (:class:`~stream_monitor.pipeline.label_versions.VersionOutcomes`).

    ``reference`` rows are (value, standard error, n) per metric; ``counts`` is
    (predictions, labelled); ``reference_period`` is (admitted, last time, joined)."""

    model_config = STATE_CONFIG
    preds: PredictionWindowState
    pairs: PairWindowState
    reference: dict[str, MetricState] | None
    learning: PerformanceState | None
    shares: dict[str, dict[str, float]]
    share_learning: dict[str, GroupCounts] | None
    concept: Annotated[dict[str, StreamingState], Revive(_concept_detectors)]
    marks: dict[str, int]
    pair_policy: PolicyState
    pred_policy: PolicyState
    counts: Annotated[tuple[int, int], From("predictions", "labelled")]
    reference_period: Annotated[tuple[int, float | None, int], From("ref_admitted", "ref_last_ts", "ref_joined")]
    incarnation: str


class OutcomeMonitorState(BaseModel):
    """:class:`~stream_monitor.pipeline.label_monitor.OutcomeMonitor`."""

    model_config = STATE_CONFIG
    params: Annotated[str, From("params_hash")]
    versions: dict[str, OutcomeVersionState]
    join: LabelJoinState | None
