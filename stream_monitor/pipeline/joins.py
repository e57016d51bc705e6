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
most ``ttl_seconds`` (until :data:`WARM_DELAYS` delays are seen, ``ttl_seconds``).
A label whose prediction already expired still reports its delay (the ids of
the last :data:`TOMBSTONES` expired predictions are remembered), so a TTL that
came out too short grows again instead of censoring the delays that would
correct it. So the buffer holds about ``prediction rate x label delay``
predictions, whatever the rate and the delay.

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

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Final

from stream_monitor.pipeline.state import LabelJoinState

__all__ = ["DEFAULT_MAX_BYTES", "JoinBuffer", "Pair", "entry_bytes"]

Payload = list[Any]  # what the metrics need of a prediction: [score, class or value, groups, ...]

DEFAULT_MAX_BYTES: Final = 32 * 1024 * 1024
WARM_DELAYS: Final = 100  # joins before the TTL follows the observed delay
TOMBSTONES: Final = 10_000  # expired prediction ids remembered for late labels
_BINS_PER_OCTAVE: Final = 4
_DELAY_BINS: Final = 26 * _BINS_PER_OCTAVE + 1  # 1 s .. 2^26 s (776 days); bin 0 is <= 1 s
_TTL_QUANTILE: Final = 0.99
_TTL_MARGIN: Final = 2.0
_MAX_HALVINGS: Final = 40


def entry_bytes(event_id: str, payload: Payload) -> int:
    """Estimated memory of one waiting prediction. Measured with ``tracemalloc``: 573
    bytes per entry for a 20-character id and a payload [score, class, [group], None,
    flag]; a group name adds ~60 bytes, a class score ~100."""
    groups = payload[2] if len(payload) > 2 and isinstance(payload[2], list) else ()
    scores = payload[3] if len(payload) > 3 and isinstance(payload[3], dict) else ()
    return 500 + len(event_id) + 60 * len(groups) + 100 * len(scores)


def _uniform(seed: int, event_id: str) -> float:
    digest = hashlib.blake2b(event_id.encode(), digest_size=8, key=seed.to_bytes(8, "big")).digest()
    return int.from_bytes(digest, "big") / 2.0**64


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
        Estimated memory of the waiting predictions (:func:`entry_bytes`).
    min_ttl_seconds
        The shortest TTL the observed delay may set.
    seed
        The sampling hash key: same seed, same sample.
    """

    def __init__(self, *, ttl_seconds: float, max_pending: int | None, max_labels: int,
                 max_bytes: int = DEFAULT_MAX_BYTES, min_ttl_seconds: float = 600.0, seed: int = 0) -> None:
        if ttl_seconds <= 0 or max_labels < 1 or max_bytes < 1 or min_ttl_seconds <= 0:
            raise ValueError("ttl_seconds, max_labels, max_bytes and min_ttl_seconds must be positive")
        self.max_ttl = ttl_seconds
        self.min_ttl = min(min_ttl_seconds, ttl_seconds)
        self.max_pending = max_pending
        self.max_labels = max_labels
        self.max_bytes = max_bytes
        self.seed = seed
        self.preds: dict[str, dict[str, list[Any]]] = {}  # id -> version -> [ts, payload, bytes, pinned]
        self.labels: dict[str, list[Any]] = {}  # id -> [ts, label, label_version, [joined versions]]
        self.tombstones: dict[str, float] = {}  # expired prediction id -> its time (late labels' delays)
        self.n_preds = 0
        self.bytes = 0
        self.pinned_bytes = 0  # of entries never sampled out (at most half of max_bytes)
        self.halvings = 0  # keep probability p = 2 ** -halvings
        self.delays = [0] * _DELAY_BINS
        self.n_delays = 0
        self.watermark: float | None = None
        self.ttl = ttl_seconds
        self.expired: dict[tuple[str, str], int] = {}  # (version, reason) -> count, since the last drain
        self.orphaned: dict[str, int] = {}  # reason -> count, since the last drain
        self.sampled: dict[str, int] = {}  # version -> predictions sampled out, since the last drain
        self.duplicates = 0
        self.admitted = False  # whether the last add_prediction kept (or joined) the prediction

    @property
    def keep_probability(self) -> float:
        return 2.0 ** -self.halvings

    def delay_quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the observed label delays (upper bin edge), or ``None``."""
        total = sum(self.delays)
        if total == 0:
            return None
        need, seen = q * total, 0
        for i, c in enumerate(self.delays):
            seen += c
            if seen >= need:
                return float(2.0 ** (i / _BINS_PER_OCTAVE))
        return float(2.0 ** ((_DELAY_BINS - 1) / _BINS_PER_OCTAVE))

    def _observe_delay(self, delay: float) -> None:
        i = 0 if delay <= 1.0 else min(math.ceil(math.log2(delay) * _BINS_PER_OCTAVE), _DELAY_BINS - 1)
        self.delays[i] += 1
        self.n_delays += 1
        # The quantile walk costs ~5 us: refresh the TTL every 64 joins, not on each.
        if self.n_delays >= WARM_DELAYS and (self.n_delays == WARM_DELAYS or self.n_delays % 64 == 0):
            q = self.delay_quantile(_TTL_QUANTILE) or 0.0
            self.ttl = min(self.max_ttl, max(self.min_ttl, _TTL_MARGIN * q))

    def add_prediction(self, event_id: str, version: str, ts: float, payload: Payload, *,
                       pinned: bool = False) -> list[Pair]:
        self._tick(ts)
        self.admitted = False
        label = self.labels.get(event_id)
        if label is not None and (label[2] is None or label[2] == version):
            if version in label[3]:
                self.duplicates += 1
                return []
            if not pinned and _uniform(self.seed, event_id) >= self.keep_probability:
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
        if not pinned and _uniform(self.seed, event_id) >= self.keep_probability:
            self._count(self.sampled, version)
            return []
        self.preds.setdefault(event_id, {})[version] = [ts, payload, size, pinned]
        self.n_preds += 1
        self.bytes += size
        self.pinned_bytes += size if pinned else 0
        self.admitted = True
        while self._full() and self.halvings < _MAX_HALVINGS:
            self._thin()
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
                self._forget(x)
                joined.append(Pair(event_id, v, pts, payload, label, ts))
                self._observe_delay(ts - pts)
            if not waiting:
                del self.preds[event_id]
        elif event_id in self.tombstones:  # its prediction expired: the delay still counts
            self._observe_delay(ts - self.tombstones.pop(event_id))
            self._count(self.orphaned, "late")
            return []
        elif self.halvings and _uniform(self.seed, event_id) >= self.keep_probability:
            return []  # its prediction was (or will be) sampled out: not an orphan
        self.labels[event_id] = [ts, label, version, [p.version for p in joined]]
        while len(self.labels) > self.max_labels:
            eid = next(iter(self.labels))
            self._drop_label(eid, "capacity")
        return joined

    def advance(self, ts: float) -> None:
        """Move the watermark to ``ts`` (if later) and expire what its TTL ended."""
        self._tick(ts)

    # -- internals ---------------------------------------------------------------------

    def _full(self) -> bool:
        return self.bytes > self.max_bytes or (self.max_pending is not None and self.n_preds > self.max_pending)

    def _thin(self) -> None:
        """Halve the keep probability and drop the waiting predictions above it."""
        self.halvings += 1
        p = self.keep_probability
        for eid in [e for e in self.preds if _uniform(self.seed, e) >= p]:
            waiting = self.preds[eid]
            for v, x in list(waiting.items()):
                if x[3]:
                    continue  # pinned
                del waiting[v]
                self._forget(x)
                self._count(self.sampled, v)
            if not waiting:
                del self.preds[eid]

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
            for v, x in waiting.items():
                self._forget(x)
                self._count(self.expired, (v, "ttl"))
                self.tombstones[eid] = x[0]
            while len(self.tombstones) > TOMBSTONES:
                del self.tombstones[next(iter(self.tombstones))]
        while self.labels:
            eid = next(iter(self.labels))
            if self.labels[eid][0] >= ts - self.max_ttl:
                break
            self._drop_label(eid, "ttl")
        if self.halvings and not self._full() and 4 * self.bytes < self.max_bytes and (
                self.max_pending is None or 4 * self.n_preds < self.max_pending):
            self.halvings -= 1  # traffic fell: new predictions are kept twice as often

    def _forget(self, entry: list[Any]) -> None:
        self.n_preds -= 1
        self.bytes -= entry[2]
        if entry[3]:
            self.pinned_bytes -= entry[2]

    def _drop_label(self, event_id: str, reason: str) -> None:
        entry = self.labels.pop(event_id)
        if not entry[3]:
            self._count(self.orphaned, reason)

    @staticmethod
    def _count(counts: dict[Any, int], key: Any) -> None:
        counts[key] = counts.get(key, 0) + 1

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
            self._forget(x)
            if not self.preds[eid]:
                del self.preds[eid]

    # -- state -------------------------------------------------------------------------

    def to_state(self) -> LabelJoinState:
        return LabelJoinState(
            watermark=self.watermark,
            preds=[(eid, v, x[0], x[1], int(x[3])) for eid, w in self.preds.items() for v, x in w.items()],
            labels=[(eid, e[0], e[1], e[2], e[3]) for eid, e in self.labels.items()],
            tombstones=list(self.tombstones.items()),
            halvings=self.halvings,
            delays=self.delays,
            ttl=self.ttl,
        )

    def load_state(self, data: LabelJoinState) -> None:
        """Restore :meth:`to_state`; a delay histogram of another shape starts empty."""
        self.watermark = data.watermark
        self.preds, self.n_preds, self.bytes, self.pinned_bytes = {}, 0, 0, 0
        for eid, v, ts, payload, pinned in data.preds:
            size = entry_bytes(eid, payload)
            self.preds.setdefault(eid, {})[v] = [ts, payload, size, bool(pinned)]
            self.n_preds += 1
            self.bytes += size
            self.pinned_bytes += size if pinned else 0
        self.labels = {eid: [ts, label, version, list(joined)] for eid, ts, label, version, joined in data.labels}
        self.tombstones = dict(data.tombstones)
        self.halvings = data.halvings
        self.delays = list(data.delays) if len(data.delays) == _DELAY_BINS else [0] * _DELAY_BINS
        self.n_delays = sum(self.delays)
        self.ttl = self.max_ttl if data.ttl is None else data.ttl
