"""The state of the label join and its bounds: how long and how many predictions wait.

:class:`JoinBounds` is the base of :class:`~stream_monitor.pipeline.joins.JoinBuffer`
(see its module for the join and the reasons behind the bounds). It holds the
waiting predictions, the labels and the tombstones of expired predictions, and
keeps them bounded: the label-delay histogram that sets the TTL
(:meth:`JoinBounds.delay_quantile`), expiry at the event-time watermark, the
estimated bytes of each entry (:func:`entry_bytes`) and the keep probability
that thins the waiting predictions to a uniform sample at the cap
(:func:`uniform`). The state is persisted here too (:meth:`JoinBounds.to_state`): the
entries through the codec (:mod:`~stream_monitor.windows.persist`), the byte and delay
counters derived from them on load.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final

from stream_monitor.pipeline.state import LabelJoinState
from stream_monitor.windows.persist import assign, capture

__all__ = ["DEFAULT_MAX_BYTES", "TOMBSTONES", "WARM_DELAYS", "JoinBounds", "Payload", "entry_bytes", "uniform"]

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


def uniform(seed: int, event_id: str) -> float:
    """The fixed pseudo-random ``u(event_id)`` in [0, 1) of a prediction (blake2b keyed by ``seed``)."""
    digest = hashlib.blake2b(event_id.encode(), digest_size=8, key=seed.to_bytes(8, "big")).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class JoinBounds:
    """The waiting predictions and labels of one model, within their bounds (the base of
    :class:`~stream_monitor.pipeline.joins.JoinBuffer`, which documents the parameters)."""

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
        self.preds: dict[str, dict[str, list[Any]]] = {}  # id -> version -> [ts, payload, pinned]
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

    # -- internals ---------------------------------------------------------------------

    def _full(self) -> bool:
        return self.bytes > self.max_bytes or (self.max_pending is not None and self.n_preds > self.max_pending)

    def _thin(self) -> None:
        """Halve the keep probability and drop the waiting predictions above it."""
        self.halvings += 1
        p = self.keep_probability
        for eid in [e for e in self.preds if uniform(self.seed, e) >= p]:
            waiting = self.preds[eid]
            for v, x in list(waiting.items()):
                if x[2]:
                    continue  # pinned
                del waiting[v]
                self._forget(eid, x)
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
                self._forget(eid, x)
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

    def _hold(self, size: int, pinned: bool) -> None:
        """Count a waiting prediction of ``size`` bytes in the bounds."""
        self.n_preds += 1
        self.bytes += size
        self.pinned_bytes += size if pinned else 0

    def _forget(self, event_id: str, entry: list[Any]) -> None:
        """Count a waiting prediction out of the bounds."""
        size = entry_bytes(event_id, entry[1])
        self.n_preds -= 1
        self.bytes -= size
        self.pinned_bytes -= size if entry[2] else 0

    def _drop_label(self, event_id: str, reason: str) -> None:
        entry = self.labels.pop(event_id)
        if not entry[3]:
            self._count(self.orphaned, reason)

    @staticmethod
    def _count(counts: dict[Any, int], key: Any) -> None:
        counts[key] = counts.get(key, 0) + 1

    def _shrink(self) -> None:
        """Thin the waiting predictions until they fit their bounds (or the keep probability is at its floor)."""
        while self._full() and self.halvings < _MAX_HALVINGS:
            self._thin()

    # -- state -------------------------------------------------------------------------

    def to_state(self) -> LabelJoinState:
        return capture(LabelJoinState, self)

    def load_state(self, data: LabelJoinState) -> None:
        """Restore :meth:`to_state`. The bounds' counters are derived from the entries; a delay
        histogram of another shape starts empty, and a state without a TTL takes the maximum."""
        assign(self, data)
        if len(self.delays) != _DELAY_BINS:
            self.delays = [0] * _DELAY_BINS
        self.n_delays = sum(self.delays)
        if data.ttl is None:
            self.ttl = self.max_ttl
        self.n_preds = self.bytes = self.pinned_bytes = 0
        for eid, waiting in self.preds.items():
            for x in waiting.values():
                self._hold(entry_bytes(eid, x[1]), x[2])
