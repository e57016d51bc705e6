"""The bounded, event-time join of labels to predictions by ``event_id``, sized by the traffic.

Predictions wait for their label in ``preds`` (event id -> version -> what the
metrics need: event time, score, class, group values; never raw features).
Labels wait in ``labels`` (event id -> label, its time, the versions it joined)
for as long as their TTL: a label that comes before its prediction joins when
the prediction comes, a label already joined remembers it (a duplicate label
counts once; a second version scoring the same event, shadow traffic, still
joins it).

**How long a prediction waits.** The buffer measures the label delay of every
join (a log-spaced histogram, 4 bins per octave) and keeps a prediction for
``2 x`` the observed 99th-percentile delay, at least ``min_ttl_seconds`` and at
most ``ttl_seconds`` (until
:data:`~stream_monitor.pipeline.join_bounds.WARM_DELAYS` delays are seen,
``ttl_seconds``). A label whose prediction already expired still reports its
delay (the ids of the last
:data:`~stream_monitor.pipeline.join_bounds.TOMBSTONES` expired predictions are
remembered), so a TTL that came out too short grows again instead of censoring
the delays that would correct it. So the buffer holds about ``prediction rate x
label delay`` predictions, whatever the rate and the delay.

**What it may hold.** At most ``max_bytes`` (an estimate per entry, measured
with ``tracemalloc`` at ~570 bytes for a binary classifier with one group) and,
if set, ``max_pending`` entries. When either is reached it does not expire the
oldest (that loses every prediction of a long label delay): it halves the
*keep probability* ``p`` and drops the entries whose hash falls above it. Each
prediction has a fixed pseudo-random ``u(event_id)`` (blake2b with ``seed``);
it waits only while ``u < p``, so the kept predictions (and the joined pairs)
are a uniform sample of the traffic at each time, independent of the label.
``p`` doubles again (for new predictions) when the buffer is below a quarter
of its bounds. *Pinned* predictions (the reference period of a version) are
never sampled out, up to half of ``max_bytes``; beyond that a pin is an
ordinary entry.

What falls out is counted: predictions as *expired* (reason ``ttl``: never
labelled in time) or *sampled* (sampled out at the cap; a different thing),
labels as *orphaned* (never joined; reason ``ttl``, ``capacity``, or ``late``
when their prediction had expired). Expiry runs in arrival order (oldest
first), which is event-time order for a producer that emits in time order.

Here: joining (:class:`JoinBuffer`); the state, its bounds and its persistence
are kept by its base, :class:`~stream_monitor.pipeline.join_bounds.JoinBounds`.

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

from dataclasses import dataclass
from typing import Any

from stream_monitor.pipeline.join_bounds import JoinBounds, Payload, entry_bytes, uniform

__all__ = ["JoinBuffer", "Pair"]


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


class JoinBuffer(JoinBounds):
    """Bounded pending predictions and labels of one model; see the module docstring.

    Parameters
    ----------
    ttl_seconds
        The longest a prediction or a label waits (event time).
    max_pending
        An optional bound on waiting predictions (``None``: only ``max_bytes``).
    max_labels
        Labels remembered (waiting for their prediction, or for idempotence).
    max_bytes
        Estimated memory of the waiting predictions (:func:`~stream_monitor.pipeline.join_bounds.entry_bytes`).
    min_ttl_seconds
        The shortest TTL the observed delay may set.
    seed
        The sampling hash key: same seed, same sample.
    """


    def add_prediction(self, event_id: str, version: str, ts: float, payload: Payload, *,
                       pinned: bool = False) -> list[Pair]:
        self._tick(ts)
        self.admitted = False
        label = self.labels.get(event_id)
        if label is not None and (label[2] is None or label[2] == version):
            if version in label[3]:
                self.duplicates += 1
                return []
            if not pinned and uniform(self.seed, event_id) >= self.keep_probability:
                self._count(self.sampled, version)  # the sample stays uniform: early labels get no favour
                return []
            label[3].append(version)
            self.admitted = True
            pair = Pair(event_id, version, ts, payload, label[1], label[0])
            self._observe_delay(pair.delay)
            return [pair]
        waiting = self.preds.get(event_id)
        if waiting is not None and version in waiting:
            self.duplicates += 1
            return []
        if self.watermark is not None and ts + self.ttl < self.watermark:
            self._count(self.expired, (version, "ttl"))  # already too old to wait
            return []
        size = entry_bytes(event_id, payload)
        pinned = pinned and self.pinned_bytes + size <= self.max_bytes // 2  # pins hold half the cap at most
        if not pinned and uniform(self.seed, event_id) >= self.keep_probability:
            self._count(self.sampled, version)
            return []
        self.preds.setdefault(event_id, {})[version] = [ts, payload, pinned]
        self._hold(size, pinned)
        self.admitted = True
        self._shrink()
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
                x = waiting.pop(v)
                pts, payload = x[0], x[1]
                self._forget(event_id, x)
                joined.append(Pair(event_id, v, pts, payload, label, ts))
                self._observe_delay(ts - pts)
            if not waiting:
                del self.preds[event_id]
        elif event_id in self.tombstones:  # its prediction expired: the delay still counts
            self._observe_delay(ts - self.tombstones.pop(event_id))
            self._count(self.orphaned, "late")
            return []
        elif self.halvings and uniform(self.seed, event_id) >= self.keep_probability:
            return []  # its prediction was (or will be) sampled out: not an orphan
        self.labels[event_id] = [ts, label, version, [p.version for p in joined]]
        while len(self.labels) > self.max_labels:
            eid = next(iter(self.labels))
            self._drop_label(eid, "capacity")
        return joined

    def advance(self, ts: float) -> None:
        """Move the watermark to ``ts`` (if later) and expire what its TTL ended."""
        self._tick(ts)

    def drain(self) -> tuple[dict[tuple[str, str], int], dict[str, int], int]:
        """The expired, orphaned and duplicate counts since the last drain (for counters);
        :meth:`drain_sampled` gives the sampled-out predictions."""
        out = (self.expired, self.orphaned, self.duplicates)
        self.expired, self.orphaned, self.duplicates = {}, {}, 0
        return out

    def drain_sampled(self) -> dict[str, int]:
        out, self.sampled = self.sampled, {}
        return out

    def drop_version(self, version: str) -> None:
        """Forget the waiting predictions of a retired version (not counted as expired)."""
        for eid in [e for e, w in self.preds.items() if version in w]:
            x = self.preds[eid].pop(version)
            self._forget(eid, x)
            if not self.preds[eid]:
                del self.preds[eid]
