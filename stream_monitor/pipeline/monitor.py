"""Monitor: steps 2-5 for every configured model, over one stream of records.

The app layer feeds raw records (bytes plus where they came from) and a
processing time ``now``; it gets back a frozen :class:`Outcome` to hand to the
sinks. The monitor also tracks, per source topic-partition, the offset of the
next record it expects. That position is part of the snapshot, so state and
position are persisted together:

* a record below the position was already applied (a replay after a restart)
  and is skipped: replays never double-count;
* a record above the position means records were skipped upstream (a consumer
  that lost buffered records in a rebalance): the outcome asks the app to seek
  back to the position, and the records are applied when they come again.

With an at-least-once consumer this gives exactly-once window statistics.

Two bounds protect the state and every metric label from the input:

* **Event time.** An event more than ``max_event_skew_seconds`` ahead of both the
  processing time ``now`` and the newest event time accepted for its model (as of
  the start of the batch) is dead-lettered as ``timestamp_out_of_range``, so no
  single event moves windows or cooldowns far ahead.
* **Versions.** ``model_version`` comes from events. A model that lists its
  versions in config accepts those alone (others are dead-lettered as
  ``unknown_version``). Otherwise the monitor learns an allow-list of at most
  ``max_versions`` versions that match :data:`VERSION_PATTERN`; a learned
  version idle (in event time) for ``version_idle_seconds`` gives its place to a
  new one. Any other version is counted under :data:`OTHER_VERSION` (and in
  ``Outcome.overflow``) and is not monitored: windows of unrelated versions
  mixed together would mean nothing. The same allow-list labels label events.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.detectors.base import DetectorState
from stream_monitor.detectors.checks import check_model_spec
from stream_monitor.errors import SnapshotError
from stream_monitor.events.models import Event, EventKind, FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.pipeline.drift_timeline import DriftTimeline
from stream_monitor.pipeline.feature_join import JoinCounts
from stream_monitor.pipeline.label_monitor import OutcomeBatch, OutcomeMonitor
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.validation import ReasonCode, Rejection, decode
from stream_monitor.windows.profile import ReferenceProfile

__all__ = [
    "OTHER_VERSION",
    "ROUTED_FROM",
    "SNAPSHOT_SCHEMA",
    "VERSION_PATTERN",
    "DeadLetter",
    "Monitor",
    "Outcome",
    "Route",
    "SourceRecord",
]

SNAPSHOT_SCHEMA: Final = 1
# What a version from an event must look like to become a label value (and status
# page text): short, and letters, digits and ``._+-`` only (no ``@``, no spaces).
VERSION_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
_VERSION: Final = re.compile(VERSION_PATTERN)
OTHER_VERSION: Final = "other"
UNKNOWN_VERSION: Final = "unknown"  # label events without a version
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
class _Intake:
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


class Monitor:
    """Decode, route and monitor records for every configured model.

    Parameters
    ----------
    specs
        The configured models.
    references
        The static reference of each model id, or ``None`` for models that learn
        their reference from the stream.
    max_message_bytes
        Records above this size are dead-lettered unread.
    version_references
        Per model id, the references of versions configured with their own.
    max_event_skew_seconds
        How far ahead of ``now`` and of the newest accepted event time an event
        time may be; None (the default here): no bound. The service sets it from
        ``limits.max_event_skew_seconds`` (one day unless configured).
    version_idle_seconds
        After how long without events (in event time) a learned version's place
        in the allow-list may go to a new version.
    route_null_keys
        Records with a null key are not applied where they landed (a producer
        spreads them over partitions, which would split a model's state): their
        events come back in :attr:`Outcome.routes`, to be published again keyed
        by model id. Copies carry :data:`ROUTED_FROM`; one that was applied
        already (published twice across a crash) is skipped.
    """

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        references: Mapping[str, ReferenceProfile | None],
        *,
        max_message_bytes: int,
        version_references: Mapping[str, Mapping[str, ReferenceProfile]] | None = None,
        max_event_skew_seconds: float | None = None,
        version_idle_seconds: float = 3_600.0,
        route_null_keys: bool = False,
    ) -> None:
        for spec in specs:
            check_model_spec(spec)  # detector parameters that do not build fail here, not mid-stream
        per_version = version_references or {}
        self.models = {
            s.model_id: ModelMonitor(s, references.get(s.model_id), per_version.get(s.model_id)) for s in specs
        }
        self._features = {s.model_id: frozenset(f.name for f in s.features) for s in specs}
        self._versions = {s.model_id: frozenset(s.versions) if s.versions else None for s in specs}
        # The label path (ground truth, fairness) of the models that configure it.
        self.outcomes = {s.model_id: OutcomeMonitor(s, self._input_drift(s.model_id)) for s in specs
                         if s.labels is not None or s.fairness is not None}
        self.max_message_bytes = max_message_bytes
        self.positions: dict[TopicPartition, int] = {}
        self.pending: dict[str, RetrainRequest] = {}  # decided, not yet confirmed published
        self.max_event_skew_seconds = max_event_skew_seconds
        self.version_idle_seconds = version_idle_seconds
        self._caps = {s.model_id: s.max_versions for s in specs}
        # Per model: the newest accepted event time, and the learned versions with the
        # newest event time of each (models that list their versions learn none).
        self.newest: dict[str, float] = {}
        self.learned: dict[str, dict[str, float]] = {s.model_id: {} for s in specs if not s.versions}
        self.route_null_keys = route_null_keys
        # (topic, source partition, model id) -> the last source offset of a routed copy applied
        self.routed: dict[tuple[str, int, str], int] = {}

    # -- the hot path ----------------------------------------------------------------

    def observe(self, records: Iterable[SourceRecord], now: float) -> Outcome:
        batch = _Intake()
        for rec in records:
            if self._in_sequence(rec, batch):
                self._take(rec, batch, now)
        return self._evaluate(batch, now)

    def _in_sequence(self, rec: SourceRecord, b: _Intake) -> bool:
        """Advance the position of ``rec``'s partition; ``False`` for a record to skip: one
        after a gap (re-read after the seek), a duplicate, a refused or an already routed one."""
        tp = (rec.topic, rec.partition)
        if tp in b.seeks:
            return False  # everything after a gap comes again after the seek
        expected = self.positions.get(tp)
        if expected is not None and rec.offset != expected:
            if rec.offset < expected:
                b.duplicates += 1
            else:
                b.seeks[tp] = expected
            return False
        if rec.refusal is not None:
            self.positions[tp] = max(rec.refusal[2], rec.offset + 1)
            b.dead.append(DeadLetter(rec, rec.refusal[0], rec.refusal[1]))
            return False
        self.positions[tp] = rec.offset + 1
        if rec.headers and rec.key is not None and self._routed_before(rec):
            b.duplicates += 1
            return False
        return True

    def _take(self, rec: SourceRecord, b: _Intake, now: float) -> None:
        """Decode ``rec`` and sort its events: to a model, its label path, a route or a dead letter."""
        items = decode(rec.value, rec.kind, max_bytes=self.max_message_bytes)
        inner = len(items) > 1  # a batch envelope: a refused event is dead-lettered on its own
        routing: dict[str, list[Any]] | None = {} if rec.key is None and self.route_null_keys else None
        for position, item in enumerate(items):
            if isinstance(item, Rejection):
                b.dead.append(DeadLetter(rec, item.reason, item.message, item.index, None, item.payload))
                continue
            refused = self._refusal(item, b, now)
            if refused is None:
                if routing is not None:
                    routing.setdefault(item.model_id, []).append(item)
                    continue
                if isinstance(item, LabelEvent):
                    self._take_label(item, b)
                    continue
                if self._take_event(item, b):
                    continue
                unknown: tuple[ReasonCode, str, str | None] = (
                    "unknown_version", "model_version is not configured", item.model_id)
                refused = unknown
            reason, message, model_id = refused
            b.dead.append(DeadLetter(rec, reason, message, position if inner else None, model_id,
                                     item.model_dump_json().encode() if inner else None))
        if routing:
            whole = len(routing) == 1 and len(next(iter(routing.values()))) == len(items)
            for model_id, evs in routing.items():
                value = rec.value if whole and rec.value is not None else (
                    b'{"kind":"batch","events":[' + b",".join(e.model_dump_json().encode() for e in evs) + b"]}")
                b.routes.append(Route(rec, model_id, value))

    def _refusal(self, item: Event, b: _Intake, now: float) -> tuple[ReasonCode, str, str | None] | None:
        """Why ``item`` is refused whatever its kind (reason, message, configured model id), or ``None``."""
        model_id = item.model_id
        if model_id not in self.models:
            return "unknown_model", "model_id is not configured", None
        skew = self.max_event_skew_seconds
        if skew is not None:
            bound = b.bounds.get(model_id)
            if bound is None:
                bound = b.bounds[model_id] = max(now, self.newest.get(model_id, now)) + skew
            if item.timestamp > bound:
                return "timestamp_out_of_range", "timestamp is too far ahead", model_id
        return None

    def _take_label(self, item: LabelEvent, b: _Intake) -> None:
        model_id = item.model_id
        label_version = item.model_version
        if label_version is None:
            label_version = UNKNOWN_VERSION
        else:  # labels do not teach versions
            known: Container[str] | None = self.learned.get(model_id) or self._versions[model_id]
            if known is None or label_version not in known:
                label_version = OTHER_VERSION
        b.consumed[(model_id, label_version, "label")] += 1
        if item.timestamp > b.label_times.get(model_id, -1.0):
            b.label_times[model_id] = item.timestamp
        if model_id in self.outcomes:
            b.label_path.setdefault(model_id, []).append(item)
            b.label_at.setdefault(model_id, []).append(len(b.per_model.get(model_id, ())))

    def _take_event(self, item: PredictionEvent | FeatureEvent, b: _Intake) -> bool:
        """Count ``item`` and hand it to its model; ``False`` when its version is not configured."""
        model_id, version = item.model_id, item.model_version
        allowed = self._versions[model_id]
        if allowed is not None:
            if version not in allowed:
                return False
        else:  # the learned allow-list, kept per event so that batching never changes it
            mine = self.learned[model_id]
            last = mine.get(version)
            if last is None:
                if not self._admit(model_id, version, item.timestamp, b.retired):
                    b.consumed[(model_id, OTHER_VERSION, item.kind)] += 1
                    b.overflow[(model_id, item.kind)] += 1
                    return True
            elif item.timestamp > last:
                mine[version] = item.timestamp
        b.consumed[(model_id, version, item.kind)] += 1
        events = b.per_model.get(model_id)
        if events is None:
            events = b.per_model[model_id] = []
        events.append(item)
        if model_id in self.outcomes and isinstance(item, PredictionEvent):
            b.label_path.setdefault(model_id, []).append(item)
            b.label_at.setdefault(model_id, []).append(len(events))
        return True

    def _evaluate(self, b: _Intake, now: float) -> Outcome:
        """Hand each model its events, the label path its own, and collect what they decided."""
        lags, last_event, latencies, unknown_features = self._event_facts(b.per_model, now)
        self._remember_times(last_event, b.label_times)
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        feature_join: dict[str, JoinCounts] = {}
        retired = b.retired
        timelines: dict[str, DriftTimeline] = {}
        for model_id, events in b.per_model.items():
            if model_id in self.outcomes:
                timelines[model_id] = DriftTimeline(self._input_drift(model_id), self.models[model_id].versions)
            out = self.models[model_id].observe(events)
            if model_id in timelines:
                timelines[model_id].marks = out.marks
            if out.feature_join is not None:
                feature_join[model_id] = out.feature_join
            reports.extend(out.reports)
            requests.extend(out.requests)
            retired.extend((model_id, v) for v in out.retired if (model_id, v) not in retired)
            if model_id in self.outcomes:
                for v in out.retired:
                    self.outcomes[model_id].retire(v)
        outcomes = {m: self.outcomes[m].observe(evs, timelines.get(m), b.label_at[m])
                    for m, evs in b.label_path.items()}
        for model_id, batch in outcomes.items():
            requests.extend(batch.requests)
            retired.extend((model_id, v) for v in batch.retired if (model_id, v) not in retired)
        for r in requests:
            self.pending[r.request_id] = r
        return Outcome(
            consumed=dict(b.consumed),
            dead_letters=tuple(b.dead),
            reports=tuple(reports),
            requests=tuple(requests),
            retired=tuple(retired),
            lags=lags,
            latencies=latencies,
            unknown_features=unknown_features,
            duplicates=b.duplicates,
            routes=tuple(b.routes),
            seeks=b.seeks,
            last_event=last_event,
            outcomes=outcomes,
            feature_join=feature_join,
            overflow=dict(b.overflow),
        )

    def _admit(self, model_id: str, version: str, ts: float, retired: list[tuple[str, str]]) -> bool:
        """Learn ``version`` for ``model_id`` if it is well formed and there is room:
        a free place, or the place of a learned version idle for ``version_idle_seconds``."""
        if _VERSION.fullmatch(version) is None or version == OTHER_VERSION:
            return False
        mine = self.learned[model_id]
        if len(mine) >= self._caps[model_id]:
            idlest = min(mine, key=mine.__getitem__)
            if mine[idlest] > max(*mine.values(), ts) - self.version_idle_seconds:
                return False
            del mine[idlest]
            retired.append((model_id, idlest))
        mine[version] = ts
        return True

    def _remember_times(self, last_event: Mapping[tuple[str, str], float], label_times: Mapping[str, float]) -> None:
        """Keep the newest accepted event time per model (for the event-time bound)."""
        newest = self.newest
        for (model_id, _), t in last_event.items():
            if t > newest.get(model_id, -1.0):
                newest[model_id] = t
        for model_id, t in label_times.items():
            if t > newest.get(model_id, -1.0):
                newest[model_id] = t
    def finish(self) -> Outcome:
        """Close every open window, drift and label path, at the end of a finite input.

        A library user replaying a file calls this once after the last
        :meth:`observe`; the windows it closes hold fewer events than a full window
        and the outcome is marked ``partial``. They are judged like any other
        window (the policy reports a window below its minimum as insufficient), so
        their requests count like any other. A live worker never calls it: its
        windows stay open until they fill.
        """
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        for mon in self.models.values():
            for state in list(mon.versions.values()):
                if state.window is not None and state.window.n > 0:
                    report, request = mon._close(state)  # the drift path's own window close
                    reports.append(report)
                    if request is not None:
                        requests.append(request)
        outcomes = {m: om.finish() for m, om in self.outcomes.items()}
        for batch in outcomes.values():
            requests.extend(batch.requests)
        for r in requests:
            self.pending[r.request_id] = r
        return Outcome(reports=tuple(reports), requests=tuple(requests),
                       outcomes={m: b for m, b in outcomes.items() if b.reports}, partial=True)
    def _routed_before(self, rec: SourceRecord) -> bool:
        """Whether ``rec`` is a routed copy whose source record was applied already (and note it if not)."""
        for name, raw in rec.headers:
            if name == ROUTED_FROM:
                src, _, off = raw.partition(b":")
                try:
                    key, offset = (rec.topic, int(src), (rec.key or b"").decode("utf-8", "replace")), int(off)
                except ValueError:
                    return False
                if offset <= self.routed.get(key, -1):
                    return True
                self.routed[key] = offset
                return False
        return False

    def _event_facts(
        self, per_model: Mapping[str, Sequence[PredictionEvent | FeatureEvent]], now: float
    ) -> tuple[dict[str, tuple[float, ...]], dict[tuple[str, str], float],
               dict[tuple[str, str], tuple[float, ...]], dict[str, int]]:
        """Per model: the processing lags, the last event time and the serving latencies per
        version, and the count of unconfigured feature names. Column by column: one
        pass per fact instead of several dictionary updates per event."""
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
            known = self._features[model_id]
            extra = sum(len(f.keys() - known) for e in events if (f := e.features) and not known.issuperset(f))
            if extra:
                unknown[model_id] = extra
        return lags, last_event, latencies, unknown

    def _input_drift(self, model_id: str) -> Callable[[str], bool]:
        """Whether the drift path has a version's inputs in warning or drift (for the label path)."""
        def drifting(version: str) -> bool:
            vs = self.models[model_id].versions.get(version)
            return vs is not None and vs.policy.state is not DetectorState.OK
        return drifting

    def mark_published(self, request_ids: Iterable[str]) -> None:
        """Forget requests whose publication the broker acknowledged."""
        for rid in request_ids:
            self.pending.pop(rid, None)

    # -- persistence -----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "schema": SNAPSHOT_SCHEMA,
            "positions": [[t, p, o] for (t, p), o in sorted(self.positions.items())],
            "models": {m: mon.to_state() for m, mon in self.models.items()},
            "pending": [r.model_dump(mode="json") for r in self.pending.values()],
            "routed": [[t, p, m, o] for (t, p, m), o in sorted(self.routed.items())],
            "outcomes": {m: o.to_state() for m, o in self.outcomes.items()},
            "newest": dict(sorted(self.newest.items())),
            "learned": {m: dict(sorted(v.items())) for m, v in sorted(self.learned.items())},
        }

    def snapshot(self) -> bytes:
        """The whole state as compressed JSON (never pickle)."""
        return zlib.compress(json.dumps(self.to_state(), separators=(",", ":")).encode(), 6)

    def restore(self, blob: bytes) -> list[str]:
        """Load a :meth:`snapshot`. Returns the model ids whose state was reset
        because their parameters changed since the snapshot was taken."""
        try:
            data = json.loads(zlib.decompress(blob))
        except (zlib.error, ValueError) as exc:
            raise SnapshotError(f"cannot decode snapshot: {exc}") from None
        if not isinstance(data, dict) or data.get("schema") != SNAPSHOT_SCHEMA:
            raise SnapshotError("snapshot schema version differs; starting fresh")
        self.positions = {(t, int(p)): int(o) for t, p, o in data["positions"]}
        self.pending = {r["request_id"]: RetrainRequest.model_validate(r) for r in data["pending"]}
        # Snapshots from before the event-time bound and the version allow-list have neither.
        self.newest = {m: float(t) for m, t in (data.get("newest") or {}).items() if m in self.models}
        saved_learned = data.get("learned") or {}
        for model_id, saved_versions in saved_learned.items():
            if model_id in self.learned:
                self.learned[model_id] = {str(v): float(t) for v, t in saved_versions.items()}
        self.routed = {(t, int(p), str(m)): int(o) for t, p, m, o in data.get("routed", [])}
        reset = []
        for model_id, mon in self.models.items():
            saved = data["models"].get(model_id)
            if saved is not None and not mon.load_state(saved):
                reset.append(model_id)
        for model_id, mine in self.learned.items():  # older snapshots: learn the live, well-formed versions
            if model_id not in saved_learned:
                live = [v for v in self.models[model_id].versions if _VERSION.fullmatch(v) and v != OTHER_VERSION]
                mine.update((v, self.newest.get(model_id, 0.0)) for v in live[-self._caps[model_id]:])
        for model_id, om in self.outcomes.items():  # snapshots from before the label path have none
            saved_outcomes = (data.get("outcomes") or {}).get(model_id)
            if saved_outcomes is not None and not om.load_state(saved_outcomes) and model_id not in reset:
                reset.append(model_id)
        return reset
