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
* **Versions** (:class:`~stream_monitor.pipeline.allow_list.VersionAllowList`): the
  allow-list of each model's versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stream_monitor.events.models import FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.pipeline.allow_list import OTHER_VERSION, UNKNOWN_VERSION, VERSION_PATTERN, VersionAllowList
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.pipeline.outcome import ROUTED_FROM, DeadLetter, Intake, Route, SourceRecord, TopicPartition
from stream_monitor.validation import ReasonCode, Rejection, decode
from stream_monitor.validation.column_events import EventBatch

__all__ = ["OTHER_VERSION", "UNKNOWN_VERSION", "VERSION_PATTERN", "Intake", "RecordIntake"]


class RecordIntake(VersionAllowList):
    """The intake half of :class:`~stream_monitor.pipeline.monitor.Monitor`: positions, routing,
    the event-time bound and (in its base class) the version allow-list. The monitor sets the
    state declared here."""

    models: dict[str, ModelMonitor]
    max_message_bytes: int
    positions: dict[TopicPartition, int]
    max_event_skew_seconds: float | None
    newest: dict[str, float]  # per model: the newest accepted event time
    route_null_keys: bool
    routed: dict[tuple[str, int, str], int]

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
        if inner and self._take_whole(rec, items, b, now):
            return
        routing: dict[str, list[Any]] | None = {} if rec.key is None and self.route_null_keys else None
        for position, item in enumerate(items):
            if isinstance(item, Rejection):
                b.dead.append(DeadLetter(rec, item.reason, item.message, item.index, None, item.payload))
                continue
            refused = self._refusal(item.model_id, item.timestamp, b, now)
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

    def _take_whole(self, rec: SourceRecord, items: list[Any], b: Intake, now: float) -> bool:
        """Take a whole envelope at once when its events are all of one kind, model and known
        version and none is refused (``False`` otherwise: each event is then taken on its own,
        with the same result)."""
        first = items[0]
        kind = type(first)
        if kind not in (PredictionEvent, FeatureEvent) or (rec.key is None and self.route_null_keys):
            return False
        model_id, version = first.model_id, first.model_version
        if isinstance(items, EventBatch):  # one kind, model and version by construction
            newest = items.newest
        elif any(type(i) is not kind or i.model_id != model_id or i.model_version != version for i in items):
            return False
        else:
            newest = max(i.timestamp for i in items)
        # the event-time bound is fixed for the batch: if the newest event passes, every one does
        if self._refusal(model_id, newest, b, now) is not None:
            return False
        return self._take_events(items, b, newest)

    def _refusal(self, model_id: str, timestamp: float, b: Intake, now: float
                 ) -> tuple[ReasonCode, str, str | None] | None:
        """Why an event of ``model_id`` at ``timestamp`` is refused whatever its kind (reason,
        message, configured model id), or ``None``."""
        if model_id not in self.models:
            return "unknown_model", "model_id is not configured", None
        skew = self.max_event_skew_seconds
        if skew is not None:
            bound = b.bounds.get(model_id)
            if bound is None:
                bound = b.bounds[model_id] = max(now, self.newest.get(model_id, now)) + skew
            if timestamp > bound:
                return "timestamp_out_of_range", "timestamp is too far ahead", model_id
        return None

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
