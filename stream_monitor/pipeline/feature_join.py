"""The bounded, event-time join of feature events to predictions by ``event_id``.

Used when ``ModelSpec.feature_join`` is set. Keys are ``(event_id, version)``.
A prediction without inline features waits in ``preds`` with only its segment
groups; a feature event whose prediction has not come waits in ``feats`` with
its feature values. The second of the two to arrive completes the join.

Bounds, as in :mod:`stream_monitor.pipeline.joins`: an entry waits at most
``ttl_seconds`` of event time behind the watermark (the latest event time
seen) and at most ``max_pending`` entries wait on each side, oldest (in arrival
order) evicted first. What falls out is counted by ``(version, reason)``,
reason ``ttl`` or ``capacity``: predictions as *expired* (their features never
came), feature events as *orphaned* (their prediction never came). A repeat of
a waiting entry counts as a duplicate and is dropped; a feature event repeated
after its join waits again and ends as orphaned.

Examples
--------
>>> j = FeatureJoin(ttl_seconds=10.0, max_pending=10)
>>> j.add_features("e1", "v1", 1.0, {"x": 1.0})  # before its prediction: waits
>>> j.add_prediction("e1", "v1", 1.0, ["south"])
(1.0, {'x': 1.0})
>>> j.add_prediction("e2", "v1", 2.0, ["north"])  # waits for its features
>>> j.add_features("e2", "v1", 3.0, {"x": 2.0})
['north']
>>> j.add_prediction("e3", "v1", 4.0, [])
>>> j.add_features("e4", "v1", 4.0, {"x": 3.0})
>>> j.advance(100.0)
>>> j.drain()
({('v1', 'ttl'): 1}, {('v1', 'ttl'): 1}, 0, 2)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stream_monitor.pipeline.state import FeatureJoinState
from stream_monitor.windows.persist import assign, capture

__all__ = ["FeatureJoin", "JoinCounts"]

Key = tuple[str, str]  # (event_id, version)
Counts = dict[tuple[str, str], int]  # (version, reason) -> count


@dataclass(frozen=True, slots=True)
class JoinCounts:
    """What the feature join did in one batch (for counters)."""

    expired: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (version, reason)
    orphaned: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (version, reason)
    duplicates: int = 0
    joined: int = 0


class FeatureJoin:
    """Bounded pending predictions and feature events of one model; see the module docstring."""

    def __init__(self, *, ttl_seconds: float, max_pending: int) -> None:
        self.ttl = ttl_seconds
        self.max_pending = max_pending
        self.preds: dict[Key, list[Any]] = {}  # -> [ts, groups]
        self.feats: dict[Key, list[Any]] = {}  # -> [ts, features]
        self.watermark: float | None = None
        self.expired: Counts = {}
        self.orphaned: Counts = {}
        self.duplicates = 0
        self.joined = 0

    def add_prediction(self, event_id: str, version: str, ts: float, groups: list[str]) -> tuple[float, Any] | None:
        """A prediction without features: returns ``(ts, features)`` of its waiting feature event, if any."""
        self._tick(ts)
        key = (event_id, version)
        waiting = self.feats.pop(key, None)
        if waiting is not None:
            self.joined += 1
            return waiting[0], waiting[1]
        self._wait(self.preds, key, ts, groups, self.expired)
        return None

    def add_features(self, event_id: str, version: str, ts: float, features: Mapping[str, Any]) -> list[str] | None:
        """A feature event: returns the segment groups of its waiting prediction, if any."""
        self._tick(ts)
        key = (event_id, version)
        waiting = self.preds.pop(key, None)
        if waiting is not None:
            self.joined += 1
            return list(waiting[1])
        self._wait(self.feats, key, ts, dict(features), self.orphaned)
        return None

    def advance(self, ts: float) -> None:
        """Move the watermark to ``ts`` (if later) and drop what its TTL ended."""
        self._tick(ts)

    def drain(self) -> tuple[Counts, Counts, int, int]:
        """Expired, orphaned, duplicate and joined counts since the last drain."""
        out = (self.expired, self.orphaned, self.duplicates, self.joined)
        self.expired, self.orphaned, self.duplicates, self.joined = {}, {}, 0, 0
        return out

    def drop_version(self, version: str) -> None:
        """Forget a retired version's waiting entries (not counted)."""
        for side in (self.preds, self.feats):
            for key in [k for k in side if k[1] == version]:
                del side[key]

    # -- internals ---------------------------------------------------------------------

    def _wait(self, side: dict[Key, list[Any]], key: Key, ts: float, value: Any, dropped: Counts) -> None:
        if key in side:
            self.duplicates += 1
            return
        if self.watermark is not None and ts + self.ttl < self.watermark:
            _count(dropped, key[1], "ttl")  # already too old to wait
            return
        side[key] = [ts, value]
        while len(side) > self.max_pending:
            oldest = next(iter(side))
            del side[oldest]
            _count(dropped, oldest[1], "capacity")

    def _tick(self, ts: float) -> None:
        if self.watermark is not None and ts <= self.watermark:
            return
        self.watermark = ts
        limit = ts - self.ttl
        for side, dropped in ((self.preds, self.expired), (self.feats, self.orphaned)):
            while side:
                key = next(iter(side))
                if side[key][0] >= limit:
                    break
                del side[key]
                _count(dropped, key[1], "ttl")

    # -- state -------------------------------------------------------------------------

    def to_state(self) -> FeatureJoinState:
        return capture(FeatureJoinState, self)

    def load_state(self, data: FeatureJoinState) -> None:
        assign(self, data)


def _count(counts: Counts, version: str, reason: str) -> None:
    counts[(version, reason)] = counts.get((version, reason), 0) + 1
