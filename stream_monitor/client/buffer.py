"""The client's bounded buffer and its accounting: every event is delivered or dropped with a reason.

One :class:`Buffer` holds the events a client has accepted until the broker
acknowledges them: queued in memory, then packed into :class:`Envelope` s that
the sender hands to the producer. Both stages count against one budget, in
events and in bytes, so nothing the client holds (its queue or the producer's
buffer) grows past it, whatever the broker does.

Each event ends in exactly one counter: ``delivered`` (acknowledged by the
broker) or one reason in ``dropped``. An envelope is settled once; a late
acknowledgement of an envelope already counted as dropped (at close) changes
nothing. So ``sent == delivered + dropped + pending`` holds at every moment and
``pending`` is 0 after :meth:`Buffer.abandon`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = ["DROP_REASONS", "ENVELOPE_FRAMING", "Buffer", "ClientStats", "DropReason", "Envelope"]

DropReason = Literal["invalid", "too_large", "buffer_full", "timeout", "broker_error", "closed"]
DROP_REASONS: Final[tuple[DropReason, ...]] = DropReason.__args__  # type: ignore[attr-defined]
_FAILED: Final = ("timeout", "broker_error", "closed")
# Bytes an envelope adds around its events: '{"kind":"batch","events":[' + ']}' and the commas.
ENVELOPE_FRAMING: Final = 32


@dataclass(frozen=True)
class ClientStats:
    """Counters of one client, in events.

    ``sent``
        Events the application handed to the client (every ``log_*`` call, valid or not).
    ``delivered``
        Events in envelopes the broker acknowledged.
    ``dropped``
        Events that will never be delivered; ``dropped_by`` splits them by reason:
        ``invalid`` (refused by the event contract), ``too_large`` (larger than
        ``max_message_bytes``), ``buffer_full`` (no room, or none within the
        blocking timeout), ``timeout`` (not acknowledged within the delivery
        timeout), ``broker_error`` (refused by the broker or the producer),
        ``closed`` (logged after close, or still unacknowledged when close gave up;
        such an envelope may still have reached the broker).
    ``pending``, ``pending_bytes``
        Held now: queued, or handed to the producer and not yet acknowledged.

    ``sent == delivered + dropped + pending`` always (:attr:`balanced`).
    """

    sent: int
    delivered: int
    dropped: int
    pending: int
    pending_bytes: int
    dropped_by: Mapping[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """The invariant: every event sent is delivered, dropped or pending."""
        return self.sent == self.delivered + self.dropped + self.pending

    @property
    def invalid(self) -> int:
        """Events refused before queueing (``invalid`` + ``too_large``)."""
        return self.dropped_by.get("invalid", 0) + self.dropped_by.get("too_large", 0)

    @property
    def failed(self) -> int:
        """Events accepted and then lost on the way (``timeout`` + ``broker_error`` + ``closed``)."""
        return sum(self.dropped_by.get(r, 0) for r in _FAILED)


@dataclass(eq=False)
class Envelope:
    """Events of one kind travelling in one Kafka message; settled exactly once."""

    kind: str
    events: list[bytes]
    size: int
    count: int = 0
    settled: bool = False

    def __post_init__(self) -> None:
        self.count = self.count or len(self.events)


class Buffer:
    """Queue plus in-flight accounting under one lock and one budget.

    Parameters
    ----------
    max_events, max_bytes
        The most events and encoded bytes held at once, queued or in flight.
    """

    def __init__(self, max_events: int, max_bytes: int) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError("max_events and max_bytes must be >= 1")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.cond = threading.Condition()
        self.closed = False
        self._queue: deque[tuple[str, bytes]] = deque()
        self._in_flight: set[Envelope] = set()
        self._held_events = 0
        self._held_bytes = 0
        self._sent = 0
        self._delivered = 0
        self._dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)

    # ------------------------------------------------------------ callers' side

    def put(self, kind: str, raw: bytes, block_seconds: float = 0.0) -> DropReason | None:
        """Queue one encoded event, waiting up to ``block_seconds`` for room; return
        why it was dropped, or None once it is queued."""
        size = len(raw)
        with self.cond:
            self._sent += 1
            if not self._fits(size) and block_seconds > 0 and not self.closed:
                deadline = time.monotonic() + block_seconds
                while not self.closed and not self._fits(size):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(left)
            if self.closed:
                self._dropped["closed"] += 1
                return "closed"
            if not self._fits(size):
                self._dropped["buffer_full"] += 1
                return "buffer_full"
            self._queue.append((kind, raw))
            self._held_events += 1
            self._held_bytes += size
            return None

    def refuse(self, reason: DropReason) -> None:
        """Count an event that was never queued."""
        with self.cond:
            self._sent += 1
            self._dropped[reason] += 1

    def _fits(self, size: int) -> bool:
        return self._held_events < self.max_events and self._held_bytes + size <= self.max_bytes

    @property
    def full(self) -> bool:
        """No room for another event (read without the lock: a hint)."""
        return self._held_events >= self.max_events

    @property
    def queued(self) -> int:
        """Events waiting for the sender (read without the lock: a hint)."""
        return len(self._queue)

    # -------------------------------------------------------------- sender's side

    def take(self, max_events: int, batch_size: int, max_message_bytes: int) -> list[Envelope]:
        """Pack up to ``max_events`` queued events into envelopes of one kind each, at most
        ``batch_size`` events and ``max_message_bytes`` bytes (with the envelope's framing).

        The envelopes stay held and tracked until settled, so :meth:`abandon` finds
        them even before the producer has them."""
        with self.cond:
            n = min(len(self._queue), max_events)
            if not n:
                return []
            by_kind: dict[str, list[bytes]] = {}
            for _ in range(n):
                kind, raw = self._queue.popleft()
                by_kind.setdefault(kind, []).append(raw)
            out: list[Envelope] = []
            for kind, raws in by_kind.items():
                chunk: list[bytes] = []
                size = 0
                for raw in raws:
                    full = ENVELOPE_FRAMING + size + len(chunk) + len(raw) > max_message_bytes
                    if chunk and (full or len(chunk) >= batch_size):
                        out.append(Envelope(kind, chunk, size))
                        chunk, size = [], 0
                    chunk.append(raw)
                    size += len(raw)
                out.append(Envelope(kind, chunk, size))
            self._in_flight.update(out)
            return out

    def settle(self, envelope: Envelope, reason: DropReason | None) -> None:
        """Count an envelope as delivered (``reason`` None) or dropped; once only."""
        with self.cond:
            if envelope.settled:
                return
            envelope.settled = True
            self._in_flight.discard(envelope)
            n = envelope.count
            if reason is None:
                self._delivered += n
            else:
                self._dropped[reason] += n
            self._held_events -= n
            self._held_bytes -= envelope.size
            self.cond.notify_all()

    # ------------------------------------------------------------------ both

    def wait_empty(self, timeout: float) -> bool:
        """Wait until nothing is held; True if so within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self._held_events:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def close(self) -> None:
        """Refuse new events from now on (counted as ``closed``); wake blocked callers."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def abandon(self) -> int:
        """Count everything still held as dropped (``closed``); return how many events."""
        with self.cond:
            leftovers = [Envelope(kind, [raw], len(raw)) for kind, raw in self._queue]
            self._in_flight.update(leftovers)
            self._queue.clear()
            leftovers += list(self._in_flight)
        before = self.stats().pending
        for envelope in leftovers:
            self.settle(envelope, "closed")
        return before - self.stats().pending

    def stats(self) -> ClientStats:
        with self.cond:
            dropped = {k: v for k, v in self._dropped.items() if v}
            return ClientStats(
                sent=self._sent,
                delivered=self._delivered,
                dropped=sum(dropped.values()),
                pending=self._held_events,
                pending_bytes=self._held_bytes,
                dropped_by=dropped,  # a fresh dict per call: the caller's to keep
            )
