"""Pairing of inference requests and responses by CloudEvent id, in bounded memory and time.

KServe's logger sends a request's CloudEvent and its response's separately, from
a pool of workers: the response can arrive first. :class:`Pairer` holds whichever
side arrives first until its counterpart comes (a pair is returned) or until
``timeout_seconds`` pass (counted as ``expired``). It holds at most ``max_pending``
entries and ``max_pending_bytes`` bytes; making room evicts the oldest entries
(counted as ``evicted``). A second event of the same side under the same key
replaces nothing: it is counted as ``duplicate`` and ignored.

The clock is passed in (``now``), in seconds of a monotonic clock.

Examples
--------
>>> p: Pairer[str] = Pairer(timeout_seconds=5, max_pending=10, max_pending_bytes=1000)
>>> p.offer("id-1", "response", "resp", 4, now=0.0) is None
True
>>> p.offer("id-1", "request", "req", 3, now=1.0)
('req', 'resp')
>>> p.offer("id-2", "request", "req", 3, now=2.0) is None
True
>>> p.expire(now=8.0)
1
>>> p.counts()["expired_request"], p.pending
(1, 0)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

__all__ = ["OUTCOMES", "Pairer"]

T = TypeVar("T")
Side = Literal["request", "response"]
OUTCOMES: Final = ("paired", "expired_request", "expired_response", "evicted_request", "evicted_response",
                   "duplicate")


@dataclass
class _Entry(Generic[T]):
    side: Side
    item: T
    size: int
    deadline: float


class Pairer(Generic[T]):
    """Holds unpaired requests and responses; see the module docstring."""

    def __init__(self, timeout_seconds: float, max_pending: int, max_pending_bytes: int) -> None:
        if timeout_seconds <= 0 or max_pending < 1 or max_pending_bytes < 1:
            raise ValueError("timeout_seconds must be > 0, max_pending and max_pending_bytes >= 1")
        self.timeout_seconds = timeout_seconds
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._pending: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._bytes = 0
        self._counts = dict.fromkeys(OUTCOMES, 0)

    def offer(self, key: str, side: Side, item: T, size: int, now: float) -> tuple[T, T] | None:
        """Hand in one side; return ``(request, response)`` once both are here, else None."""
        self.expire(now)
        entry = self._pending.get(key)
        if entry is not None:
            if entry.side == side:
                self._counts["duplicate"] += 1
                return None
            self._remove(key, entry)
            self._counts["paired"] += 1
            return (entry.item, item) if side == "response" else (item, entry.item)
        while self._pending and (len(self._pending) >= self.max_pending
                                 or self._bytes + size > self.max_pending_bytes):
            old_key, old = next(iter(self._pending.items()))
            self._remove(old_key, old)
            self._counts[f"evicted_{old.side}"] += 1
        if size > self.max_pending_bytes:
            self._counts[f"evicted_{side}"] += 1  # larger than the whole budget: never held
            return None
        self._pending[key] = _Entry(side, item, size, now + self.timeout_seconds)
        self._bytes += size
        return None

    def expire(self, now: float) -> int:
        """Count and forget the entries whose time is up; return how many."""
        n = 0
        while self._pending:
            key, entry = next(iter(self._pending.items()))
            if entry.deadline > now:
                break
            self._remove(key, entry)
            self._counts[f"expired_{entry.side}"] += 1
            n += 1
        return n

    def _remove(self, key: str, entry: _Entry[T]) -> None:
        del self._pending[key]
        self._bytes -= entry.size

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def counts(self) -> dict[str, int]:
        """A copy of the outcome counters (:data:`OUTCOMES`)."""
        return dict(self._counts)
