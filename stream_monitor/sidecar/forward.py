"""The sidecar's way to Kafka: the client's bounded buffer and sender, routed per model.

:class:`Forwarder` reuses :mod:`stream_monitor.client` unchanged: one
:class:`~stream_monitor.client.buffer.Buffer` (events and bytes budget, every
event delivered or dropped with a reason) and one
:class:`~stream_monitor.client.sender.Sender` thread with its aiokafka producer.
The client serves one model; the sidecar serves any, so an envelope's *kind* is
a route, ``"<kind>\\n<model_id>"``: the buffer packs envelopes per route, and a
thin producer wrapper sends each to its kind's topic keyed by its model id (one
model's events stay in order on one partition, as with the client).

A request's events are accepted or refused together (:meth:`Forwarder.submit`):
a caller that gets 429 can retry the same request without duplicating part of it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from stream_monitor.client.buffer import ENVELOPE_FRAMING, Buffer, ClientStats, DropReason
from stream_monitor.client.producer import kafka_producer
from stream_monitor.client.sender import Sender

__all__ = ["Forwarder", "route"]

_SEP: Final = "\n"


def route(kind: str, model_id: str) -> str:
    """The envelope kind that carries one model's events of one kind."""
    return kind + _SEP + model_id


class _Routes(dict[str, str]):
    """The sender's topic table: every route maps to itself; the producer wrapper splits it."""

    def __missing__(self, key: str) -> str:
        return key


class _RoutingProducer:
    """Sends an envelope addressed to a route to its kind's topic, keyed by its model id."""

    def __init__(self, producer: Any, topics: Mapping[str, str]) -> None:
        self._producer = producer
        self._topics = topics

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        kind, _, model_id = topic.partition(_SEP)
        return await self._producer.send(self._topics[kind], value, key=model_id.encode())

    def __getattr__(self, name: str) -> Any:  # the sender's shutdown reaches the accumulator
        return getattr(self._producer, name)


class Forwarder:
    """Bounded, counted forwarding of encoded events to the worker's topics.

    Parameters
    ----------
    bootstrap_servers, topics
        Kafka, and the topic per event kind (``prediction``, ``feature``, ``label``).
    max_events, max_bytes
        Budget of events held (queued or unacknowledged); past it :meth:`submit`
        refuses with ``buffer_full``.
    batch_size, linger_seconds, max_message_bytes, delivery_timeout_seconds
        As for :class:`~stream_monitor.client.MonitorClient`.
    producer_factory
        Builds the producer (tests); default an aiokafka producer.
    """

    def __init__(self, bootstrap_servers: str, topics: Mapping[str, str], *, max_events: int = 50_000,
                 max_bytes: int = 64 * 1024 * 1024, batch_size: int = 500, linger_seconds: float = 0.02,
                 max_message_bytes: int = 900_000, delivery_timeout_seconds: float = 30.0,
                 producer_config: Mapping[str, Any] | None = None,
                 producer_factory: Any = None) -> None:
        settings: dict[str, Any] = {
            "acks": "all", "enable_idempotence": False, "linger_ms": 0,
            "max_batch_size": max_message_bytes + 1024, "max_request_size": max(2 * max_message_bytes, 1 << 20),
            "request_timeout_ms": int(delivery_timeout_seconds * 1000), "client_id": "stream-monitor-sidecar",
            **(producer_config or {}),
        }
        self.topics = dict(topics)
        self.max_message_bytes = max_message_bytes
        self.buffer = Buffer(max_events, max_bytes)

        def factory() -> _RoutingProducer:
            inner = producer_factory() if producer_factory else kafka_producer(bootstrap_servers, settings)
            return _RoutingProducer(inner, self.topics)

        self.sender = Sender(self.buffer, {}, b"", factory, batch_size=batch_size,
                             max_message_bytes=max_message_bytes, linger_seconds=linger_seconds)
        self.sender.topics = _Routes()  # the sender copies the table it is given; this one answers any route
        self._batch_size = batch_size

    def start(self) -> None:
        self.sender.start()

    def submit(self, items: Sequence[tuple[str, bytes]]) -> DropReason | None:
        """Queue ``(route, encoded event)`` items all together, or refuse them all; return
        the reason (``too_large``, ``buffer_full``, ``closed``) or None once queued."""
        n = len(items)
        if any(len(raw) + ENVELOPE_FRAMING > self.max_message_bytes for _, raw in items):
            self.refuse("too_large", n)
            return "too_large"
        size = sum(len(raw) for _, raw in items)
        with self.buffer.cond:  # a reentrant lock: no event of another request slips in between
            held = self.buffer.stats()
            if self.buffer.closed:
                reason: DropReason | None = "closed"
            elif held.pending + n > self.buffer.max_events or held.pending_bytes + size > self.buffer.max_bytes:
                reason = "buffer_full"
            else:
                reason = None
                for r, raw in items:
                    self.buffer.put(r, raw)
            if reason is not None:
                self.refuse(reason, n)
        if reason is None and self.buffer.queued >= self._batch_size:
            self.sender.wake()
        return reason

    def refuse(self, reason: DropReason, n: int) -> None:
        """Count ``n`` events that were never queued."""
        for _ in range(n):
            self.buffer.refuse(reason)

    def stats(self) -> ClientStats:
        return self.buffer.stats()

    def close(self, timeout: float = 5.0) -> ClientStats:
        """Send what the broker acknowledges within ``timeout`` seconds; count the rest as ``closed``."""
        deadline = time.monotonic() + max(timeout, 0.0)
        self.buffer.close()
        if self.sender.thread.is_alive():
            with self.buffer.cond:
                self.sender.urgent += 1
            self.sender.wake()
            self.buffer.wait_empty(max(timeout - min(1.0, timeout * 0.25), 0.0))
            self.sender.stop(max(deadline - time.monotonic(), 0.05))
        self.buffer.abandon()
        return self.buffer.stats()
