"""Produce encoded events to a topic (the simulator's and the demo's producer).

Uses kafka-python's producer, which works against any Kafka-protocol broker.
With ``batch > 1`` events travel in batch envelopes, many per Kafka message.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from itertools import islice

from stream_monitor.events.envelope import encode_rows

__all__ = ["envelope", "produce"]


def envelope(raw_events: Iterable[bytes]) -> bytes:
    """Wrap already-encoded events in a batch envelope without re-encoding them."""
    return encode_rows(list(raw_events))


def _chunks(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[bytes],
    *,
    key: bytes | None = None,
    rate: float = 0.0,
    batch: int = 1,
    linger_ms: int = 5,
) -> int:
    """Send events; return how many. ``rate`` caps events per second (0: no cap)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms, max_request_size=4 * 1024 * 1024
    )
    sent = 0
    started = time.monotonic()
    try:
        for chunk in _chunks(events, max(batch, 1)):
            value = chunk[0] if batch <= 1 else envelope(chunk)
            producer.send(topic, key=key, value=value)
            sent += len(chunk)
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    return sent
