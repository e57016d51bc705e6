"""What goes into the monitor and what comes out of one call: records in, a frozen outcome out.

The app layer builds a :class:`SourceRecord` per consumed record (its raw bytes
and where it came from); :meth:`~stream_monitor.pipeline.monitor.Monitor.observe`
returns an :class:`Outcome` for the sinks: what was consumed, the records refused
(:class:`DeadLetter`), the window reports and retrain requests, the null-key
records to publish again keyed by model (:class:`Route`), and where to seek back to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.events.models import EventKind, FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.pipeline.feature_join import JoinCounts
from stream_monitor.pipeline.label_monitor import OutcomeBatch
from stream_monitor.validation import ReasonCode

__all__ = ["ROUTED_FROM", "DeadLetter", "Intake", "Outcome", "Route", "SourceRecord", "TopicPartition", "event_facts"]

ROUTED_FROM: Final = "stream-monitor.routed-from"  # header of a routed copy: b"<partition>:<offset>"
TopicPartition = tuple[str, int]


class SourceRecord(NamedTuple):
    """One consumed record: its raw value and where it came from.

    A named tuple: the worker builds one per record, and a frozen dataclass took
    ~0.8 us to build against ~0.25 us.
    """

    kind: EventKind
    value: bytes | None
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    # Set by the consumer for a record (or the rest of a batch) it could not decode:
    # the reason, a message, and the offset after what this record stands for.
    refusal: tuple[ReasonCode, str, int] | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record (or one event of a batch envelope) refused, and why."""

    record: SourceRecord
    reason: ReasonCode
    message: str
    index: int | None = None
    model_id: str | None = None  # only when it is a configured model
    payload: bytes | None = None  # the inner event of a batch envelope; else the record value


@dataclass(frozen=True, slots=True)
class Route:
    """A null-key record's events of one model, to publish again keyed by the model id."""

    record: SourceRecord
    model_id: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call of :meth:`Monitor.observe` produced."""

    consumed: Mapping[tuple[str, str, str], int] = field(default_factory=dict)  # (model, version, kind)
    dead_letters: tuple[DeadLetter, ...] = ()
    reports: tuple[WindowReport, ...] = ()
    requests: tuple[RetrainRequest, ...] = ()
    retired: tuple[tuple[str, str], ...] = ()  # (model, version) whose series to drop
    lags: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # model -> now - event time
    latencies: Mapping[tuple[str, str], tuple[float, ...]] = field(default_factory=dict)  # seconds
    unknown_features: Mapping[str, int] = field(default_factory=dict)
    duplicates: int = 0  # records skipped because they were already applied
    routes: tuple[Route, ...] = ()  # null-key records to publish again, keyed by model id
    seeks: Mapping[TopicPartition, int] = field(default_factory=dict)  # where to re-read from
    last_event: Mapping[tuple[str, str], float] = field(default_factory=dict)  # event time
    outcomes: Mapping[str, OutcomeBatch] = field(default_factory=dict)  # model -> what its label path did
    feature_join: Mapping[str, JoinCounts] = field(default_factory=dict)  # model -> what its feature join did
    overflow: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (model, kind) -> events of "other"
    partial: bool = False  # from :meth:`Monitor.finish`: the windows closed before they were full


@dataclass(slots=True)
class Intake:
    """What one :meth:`Monitor.observe` call sorts out of its records before the models see them."""

    consumed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dead: list[DeadLetter] = field(default_factory=list)
    per_model: dict[str, list[PredictionEvent | FeatureEvent]] = field(default_factory=dict)
    seeks: dict[TopicPartition, int] = field(default_factory=dict)
    label_path: dict[str, list[PredictionEvent | LabelEvent]] = field(default_factory=dict)
    # per label-path event: how many of its model's events the drift path sees up to it
    label_at: dict[str, list[int]] = field(default_factory=dict)
    duplicates: int = 0
    routes: list[Route] = field(default_factory=list)
    overflow: Counter[tuple[str, str]] = field(default_factory=Counter)
    retired: list[tuple[str, str]] = field(default_factory=list)
    bounds: dict[str, float] = field(default_factory=dict)  # per model, fixed for the batch
    label_times: dict[str, float] = field(default_factory=dict)
    # per model: runs of its events taken whole from a columnar envelope (where the run starts in
    # ``per_model``, how many, the envelope's feature columns), for the windows to read as they are
    columns: dict[str, list[tuple[int, int, Mapping[str, list[Any]]]]] = field(default_factory=dict)


def event_facts(
    per_model: Mapping[str, Sequence[PredictionEvent | FeatureEvent]], features: Mapping[str, frozenset[str]],
    now: float, columns: Mapping[str, Mapping[str, Sequence[Any]] | None],
) -> tuple[dict[str, tuple[float, ...]], dict[tuple[str, str], float],
           dict[tuple[str, str], tuple[float, ...]], dict[str, int]]:
    """Per model: the processing lags, the last event time and the serving latencies per
    version, and the count of feature names not in ``features`` (the configured ones). Column by column: one
    pass per fact instead of several dictionary updates per event; the count is read from the
    model's feature ``columns`` when it has them (each name's value per event, ``None`` where absent)."""
    lags: dict[str, tuple[float, ...]] = {}
    last_event: dict[tuple[str, str], float] = {}
    latencies: dict[tuple[str, str], tuple[float, ...]] = {}
    unknown: dict[str, int] = {}
    for model_id, events in per_model.items():
        ts = [e.timestamp for e in events]
        lags[model_id] = tuple([now - t for t in ts])
        seen = {e.model_version for e in events}  # never empty or None for these kinds
        groups: list[tuple[str, Sequence[PredictionEvent | FeatureEvent], list[float]]] = []
        if len(seen) == 1:
            groups.append((seen.pop(), events, ts))
        else:
            for version in sorted(seen):
                mine = [e for e in events if e.model_version == version]
                groups.append((version, mine, [e.timestamp for e in mine]))
        for version, of_version, times in groups:
            last_event[(model_id, version)] = max(times)
            lat = [e.latency_ms / 1000.0 for e in of_version
                   if isinstance(e, PredictionEvent) and e.latency_ms is not None]
            if lat:
                latencies[(model_id, version)] = tuple(lat)
        known = features[model_id]
        given = columns.get(model_id)
        if given is not None:
            extra = sum(len(col) - col.count(None) for name, col in given.items() if name not in known)
        else:
            extra = sum(len(f.keys() - known) for e in events if (f := e.features) and not known.issuperset(f))
        if extra:
            unknown[model_id] = extra
    return lags, last_event, latencies, unknown
