"""The sink protocol, and the sinks that produce to Kafka topics: retrain requests and dead letters.

A sink receives every :class:`~stream_monitor.pipeline.monitor.Outcome` through
``emit()``; ``flush()`` is called before offsets are committed. Sinks that
produce records take a :class:`Publisher`, so tests use an in-memory one and
the app a faust producer.

Retrain requests go to their topic: JSON value, key = model id. Requests are
published with the broker's acknowledgement awaited; only then are they marked
published in the monitor (and so dropped from the snapshot's pending list). A
crash in between re-publishes the same ``request_id``.

Dead-letter records are the refused bytes, unchanged, with the reason in headers.
Following the Kafka Connect convention, the record value is the original value
(for one refused event of a batch envelope, that event re-encoded as JSON) and
the key is the original key, so a fixed record can be replayed as it is. The
context travels in headers prefixed ``stream-monitor.``:

=============================  ==================================================
``stream-monitor.reason``      reason code, e.g. ``schema_violation``
``stream-monitor.message``     short text naming fields, never their values
``stream-monitor.topic``       source topic
``stream-monitor.partition``   source partition (decimal)
``stream-monitor.offset``      source offset (decimal)
``stream-monitor.index``       position in the batch envelope (only for batches)
``stream-monitor.next-offset``  the offset after the records this one stands for
                               (only for a batch the consumer could not decode)
``stream-monitor.schema``      ``1``
``stream-monitor.truncated``   the original value size in bytes (only when cut)
``stream-monitor.sha256``      hex SHA-256 of the whole original value (only when cut)
``stream-monitor.dropped``     ``key,headers`` when the record's own were dropped
=============================  ==================================================

The record's own headers are kept, before these. Header keys that were not valid
UTF-8 arrive escaped (``backslashreplace``). A dead letter never exceeds what the
producer accepts: a value longer than ``max_value_bytes`` is cut to that length,
and the record's own headers and key are dropped when together they exceed
:data:`MAX_EXTRA_BYTES`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.pipeline.outcome import DeadLetter, Outcome

__all__ = [
    "HEADER_PREFIX",
    "MAX_EXTRA_BYTES",
    "DeadLetterSink",
    "MemoryPublisher",
    "Published",
    "Publisher",
    "RetrainTopicSink",
    "Sink",
    "dead_letter_headers",
    "encode_request",
]

HEADER_PREFIX = "stream-monitor."
MAX_EXTRA_BYTES = 128 * 1024  # the record's own key and headers kept in a dead letter

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


def encode_request(request: RetrainRequest) -> bytes:
    return request.model_dump_json().encode()


class RetrainTopicSink:
    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    async def publish(self, requests: Iterable[RetrainRequest]) -> list[str]:
        """Publish requests in order; return the ids the broker acknowledged."""
        done = []
        for r in requests:
            await self.publisher.publish(
                self.topic,
                r.model_id.encode(),
                encode_request(r),
                [("stream-monitor.request_id", r.request_id.encode())],
            )
            done.append(r.request_id)
        return done


def dead_letter_headers(dl: DeadLetter) -> list[tuple[str, bytes]]:
    rec = dl.record
    headers = [h for h in rec.headers if not h[0].startswith(HEADER_PREFIX)]
    headers += [
        (HEADER_PREFIX + "reason", dl.reason.encode()),
        (HEADER_PREFIX + "message", dl.message.encode()),
        (HEADER_PREFIX + "topic", rec.topic.encode()),
        (HEADER_PREFIX + "partition", str(rec.partition).encode()),
        (HEADER_PREFIX + "offset", str(rec.offset).encode()),
        (HEADER_PREFIX + "schema", b"1"),
    ]
    if dl.index is not None:
        headers.append((HEADER_PREFIX + "index", str(dl.index).encode()))
    if rec.refusal is not None and rec.refusal[2] > rec.offset + 1:
        headers.append((HEADER_PREFIX + "next-offset", str(rec.refusal[2]).encode()))
    return headers


class DeadLetterSink:
    """Publishes every dead letter of an outcome and waits for the acknowledgements.

    ``published(dead_letter)`` is called after each acknowledgement, so a dead
    letter is counted once it is on the topic, never before.
    """

    def __init__(
        self,
        publisher: Publisher,
        topic: str,
        max_value_bytes: int = 1_048_576,
        published: Callable[[DeadLetter], None] | None = None,
    ) -> None:
        self.publisher = publisher
        self.topic = topic
        self.max_value_bytes = max_value_bytes
        self.published = published

    async def emit(self, outcome: Outcome) -> None:
        for dl in outcome.dead_letters:
            value = dl.payload if dl.payload is not None else dl.record.value
            key, headers = dl.record.key, dead_letter_headers(dl)
            own = sum(len(k) + len(v) for k, v in dl.record.headers) + len(key or b"")
            if own > MAX_EXTRA_BYTES:
                key = None
                headers = [h for h in headers if h[0].startswith(HEADER_PREFIX)]
                headers.append((HEADER_PREFIX + "dropped", b"key,headers"))
            if value is not None and len(value) > self.max_value_bytes:
                headers.append((HEADER_PREFIX + "truncated", str(len(value)).encode()))
                headers.append((HEADER_PREFIX + "sha256", hashlib.sha256(value).hexdigest().encode()))
                value = value[: self.max_value_bytes]
            await self.publisher.publish(self.topic, key, value, headers)
            if self.published is not None:
                self.published(dl)
