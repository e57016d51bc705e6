"""The monitor's intake: which records to apply, and where each of their events goes.

:class:`RecordIntake` is the base class of
:class:`~stream_monitor.pipeline.monitor.Monitor`. It tracks, per source
topic-partition, the offset of the next record it expects. That position is part
of the monitor's snapshot, so state and position are persisted together:

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

import re
from collections import Counter
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stream_monitor.events.models import Event, FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.pipeline.outcome import ROUTED_FROM, DeadLetter, Route, SourceRecord, TopicPartition
from stream_monitor.validation import ReasonCode, Rejection, decode

__all__ = ["OTHER_VERSION", "UNKNOWN_VERSION", "VERSION_PATTERN", "Intake", "RecordIntake"]

# What a version from an event must look like to become a label value (and status
# page text): short, and letters, digits and ``._+-`` only (no ``@``, no spaces).
VERSION_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
_VERSION: Final = re.compile(VERSION_PATTERN)
OTHER_VERSION: Final = "other"
UNKNOWN_VERSION: Final = "unknown"  # label events without a version


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


class RecordIntake:
    """The intake half of :class:`~stream_monitor.pipeline.monitor.Monitor`: positions, routing,
    the event-time bound and the version allow-list. The monitor sets the state declared here."""

    models: dict[str, ModelMonitor]
    outcomes: dict[str, OutcomeMonitor]
    max_message_bytes: int
    positions: dict[TopicPartition, int]
    max_event_skew_seconds: float | None
    version_idle_seconds: float
    newest: dict[str, float]  # per model: the newest accepted event time
    learned: dict[str, dict[str, float]]  # per model: learned version -> its newest event time
    route_null_keys: bool
    routed: dict[tuple[str, int, str], int]
    _versions: dict[str, frozenset[str] | None]
    _caps: dict[str, int]

    def _in_sequence(self, rec: SourceRecord, b: Intake) -> bool:
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

    def _take(self, rec: SourceRecord, b: Intake, now: float) -> None:
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

    def _refusal(self, item: Event, b: Intake, now: float) -> tuple[ReasonCode, str, str | None] | None:
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

    def _take_label(self, item: LabelEvent, b: Intake) -> None:
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

    def _take_event(self, item: PredictionEvent | FeatureEvent, b: Intake) -> bool:
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
