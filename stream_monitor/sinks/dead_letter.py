"""Dead-letter records: the refused bytes, unchanged, with the reason in headers.

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
``stream-monitor.schema``      ``1``
=============================  ==================================================

The record's own headers are kept, before these.
"""

from __future__ import annotations

from stream_monitor.monitor import DeadLetter, Outcome
from stream_monitor.sinks.base import Publisher

__all__ = ["HEADER_PREFIX", "DeadLetterSink", "dead_letter_headers"]

HEADER_PREFIX = "stream-monitor."


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
    return headers


class DeadLetterSink:
    """Publishes every dead letter of an outcome and waits for the acknowledgements."""

    def __init__(self, publisher: Publisher, topic: str) -> None:
        self.publisher = publisher
        self.topic = topic

    async def emit(self, outcome: Outcome) -> None:
        for dl in outcome.dead_letters:
            value = dl.payload if dl.payload is not None else dl.record.value
            await self.publisher.publish(self.topic, dl.record.key, value, dead_letter_headers(dl))

    async def flush(self) -> None:
        return None
