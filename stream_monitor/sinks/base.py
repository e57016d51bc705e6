"""The sink protocol, and the publisher protocol sinks that produce to Kafka use.

A sink receives every :class:`~stream_monitor.pipeline.monitor.Outcome` through
``emit()``; ``flush()`` is called before offsets are committed. Sinks that
produce records take a :class:`Publisher`, so tests use an in-memory one and
the app a faust producer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stream_monitor.pipeline.outcome import Outcome

__all__ = ["MemoryPublisher", "Published", "Publisher", "Sink"]

Headers = Sequence[tuple[str, bytes]]


class Publisher(Protocol):
    async def publish(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()) -> None:
        """Produce one record and wait until the broker acknowledged it."""
        ...


class Sink(Protocol):
    async def emit(self, outcome: Outcome) -> None: ...


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class MemoryPublisher:
    """A :class:`Publisher` that keeps what it was given (for tests and backtests)."""

    records: list[Published] = field(default_factory=list)

    async def publish(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()) -> None:
        self.records.append(Published(topic, key, value, tuple(headers)))
