"""The bounded, event-time join of labels to predictions by ``event_id``.

Predictions wait for their label in ``preds`` (event id -> version -> what the
metrics need: event time, score, class, group values; never raw features).
Labels wait in ``labels`` (event id -> label, its time, the versions it joined)
for as long as their TTL: a label that comes before its prediction joins when
the prediction comes, a label already joined remembers it (a duplicate label
counts once; a second version scoring the same event, shadow traffic, still
joins it).

Bounds: a prediction waits at most ``ttl_seconds`` of event time (the
watermark, the latest event time seen) and at most ``max_pending`` wait; a
label is kept ``ttl_seconds`` after its own time, at most ``max_labels`` of
them. What falls out is counted: predictions as *expired* (never labelled),
labels as *orphaned* (never joined), each by reason ``ttl`` or ``capacity``.
Eviction runs in arrival order (oldest first), which is event-time order for
a producer that emits in time order; an out-of-order entry leaves when those
that arrived before it have.

Examples
--------
>>> j = JoinBuffer(ttl_seconds=100.0, max_pending=10, max_labels=10)
>>> j.add_label("e1", None, 5.0, "1")  # before its prediction
[]
>>> [p.version for p in j.add_prediction("e1", "v1", 1.0, [0.9, "1", []])]
['v1']
>>> j.add_label("e1", None, 6.0, "1"), j.duplicates  # idempotent
([], 1)
>>> j.add_prediction("e2", "v1", 2.0, [0.1, "0", []])
[]
>>> j.advance(200.0)
>>> j.expired, j.orphaned
({('v1', 'ttl'): 1}, {})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["JoinBuffer", "Pair"]

Payload = list[Any]  # what the metrics need of a prediction: [score, class or value, groups, ...]


@dataclass(frozen=True, slots=True)
class Pair:
    """A prediction joined to its label."""

    event_id: str
    version: str
    prediction_ts: float
    payload: Payload
    label: Any
    label_ts: float

    @property
    def delay(self) -> float:
        return self.label_ts - self.prediction_ts


class JoinBuffer:
    """Bounded pending predictions and labels of one model; see the module docstring."""

    def __init__(self, *, ttl_seconds: float, max_pending: int, max_labels: int) -> None:
        self.ttl = ttl_seconds
        self.max_pending = max_pending
        self.max_labels = max_labels
        self.preds: dict[str, dict[str, list[Any]]] = {}  # id -> version -> [ts, payload]
        self.labels: dict[str, list[Any]] = {}  # id -> [ts, label, label_version, [joined versions]]
        self.n_preds = 0
        self.watermark: float | None = None
        self.expired: dict[tuple[str, str], int] = {}  # (version, reason) -> count, since the last drain
        self.orphaned: dict[str, int] = {}  # reason -> count, since the last drain
        self.duplicates = 0

    def add_prediction(self, event_id: str, version: str, ts: float, payload: Payload) -> list[Pair]:
        self._tick(ts)
        label = self.labels.get(event_id)
        if label is not None and (label[2] is None or label[2] == version):
            if version in label[3]:
                self.duplicates += 1
                return []
            label[3].append(version)
            return [Pair(event_id, version, ts, payload, label[1], label[0])]
        waiting = self.preds.setdefault(event_id, {})
        if version in waiting:
            self.duplicates += 1
            return []
        if self.watermark is not None and ts + self.ttl < self.watermark:
            self._count_expired(version, "ttl")  # already too old to wait
            if not waiting:
                del self.preds[event_id]
            return []
        waiting[version] = [ts, payload]
        self.n_preds += 1
        while self.n_preds > self.max_pending:
            self._evict_oldest_prediction()
        return []

    def add_label(self, event_id: str, version: str | None, ts: float, label: Any) -> list[Pair]:
        self._tick(ts)
        if event_id in self.labels:
            self.duplicates += 1
            return []
        joined: list[Pair] = []
        waiting = self.preds.get(event_id)
        if waiting:
            for v in [v for v in waiting if version is None or v == version]:
                pts, payload = waiting.pop(v)
                self.n_preds -= 1
                joined.append(Pair(event_id, v, pts, payload, label, ts))
            if not waiting:
                del self.preds[event_id]
        self.labels[event_id] = [ts, label, version, [p.version for p in joined]]
        while len(self.labels) > self.max_labels:
            eid = next(iter(self.labels))
            self._drop_label(eid, "capacity")
        return joined

    def advance(self, ts: float) -> None:
        """Move the watermark to ``ts`` (if later) and expire what its TTL ended."""
        self._tick(ts)

    # -- internals ---------------------------------------------------------------------

    def _tick(self, ts: float) -> None:
        if self.watermark is not None and ts <= self.watermark:
            return
        self.watermark = ts
        limit = ts - self.ttl
        while self.preds:
            eid = next(iter(self.preds))
            waiting = self.preds[eid]
            if min(x[0] for x in waiting.values()) >= limit:
                break
            del self.preds[eid]
            for v in waiting:
                self.n_preds -= 1
                self._count_expired(v, "ttl")
        while self.labels:
            eid = next(iter(self.labels))
            if self.labels[eid][0] >= limit:
                break
            self._drop_label(eid, "ttl")

    def _evict_oldest_prediction(self) -> None:
        eid = next(iter(self.preds))
        for v in self.preds.pop(eid):
            self.n_preds -= 1
            self._count_expired(v, "capacity")

    def _drop_label(self, event_id: str, reason: str) -> None:
        entry = self.labels.pop(event_id)
        if not entry[3]:
            self.orphaned[reason] = self.orphaned.get(reason, 0) + 1

    def _count_expired(self, version: str, reason: str) -> None:
        key = (version, reason)
        self.expired[key] = self.expired.get(key, 0) + 1

    def drain(self) -> tuple[dict[tuple[str, str], int], dict[str, int], int]:
        """The expired, orphaned and duplicate counts since the last drain (for counters)."""
        out = (self.expired, self.orphaned, self.duplicates)
        self.expired, self.orphaned, self.duplicates = {}, {}, 0
        return out

    def drop_version(self, version: str) -> None:
        """Forget the waiting predictions of a retired version (not counted as expired)."""
        for eid in [e for e, w in self.preds.items() if version in w]:
            del self.preds[eid][version]
            self.n_preds -= 1
            if not self.preds[eid]:
                del self.preds[eid]

    # -- state -------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "watermark": self.watermark,
            "preds": [[eid, v, x[0], x[1]] for eid, w in self.preds.items() for v, x in w.items()],
            "labels": [[eid, *entry] for eid, entry in self.labels.items()],
        }

    def load_state(self, data: Mapping[str, Any]) -> None:
        self.watermark = data["watermark"]
        self.preds, self.n_preds = {}, 0
        for eid, v, ts, payload in data["preds"]:
            self.preds.setdefault(eid, {})[v] = [float(ts), payload]
            self.n_preds += 1
        self.labels = {row[0]: [float(row[1]), row[2], row[3], list(row[4])] for row in data["labels"]}
