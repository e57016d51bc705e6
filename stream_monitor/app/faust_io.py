"""The faust and Kafka adapters the worker is built from, and the sizes of its batches.

Broker credentials from the security settings, the monitor-state table as a
:class:`~stream_monitor.app.runtime.SnapshotStore`, a publisher that waits for
the broker's acknowledgement (retrying for a bounded time), the consumer class
with a configurable fetch wait, a typed timer decorator and a TCP probe of the
bootstrap servers.

Fetch and request limits are derived from the settings. A consumed batch is
applied in slices of at most ``worker.slice_max_bytes`` of record values, with
the event loop let turn between them (:data:`TURNS_BETWEEN_SLICES`); the
consumer's fetch size, the largest dead letter published whole and the
producer's request limit all follow from ``limits.max_message_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from stream_monitor.app.web import Health
from stream_monitor.config.groups import KafkaSecurity
from stream_monitor.errors import PublishError
from stream_monitor.pipeline.outcome import SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.topics import MAX_EXTRA_BYTES, Headers
from stream_monitor.tools.kafka_admin import ssl_context

__all__ = [
    "TURNS_BETWEEN_SLICES",
    "FaustPublisher",
    "TableStore",
    "Tick",
    "any_reachable",
    "broker_credentials",
    "consumer_class",
    "consumer_fetch_bytes",
    "dead_letter_value_bytes",
    "partition_key",
    "producer_request_bytes",
    "slices",
    "timer",
]

log = logging.getLogger("stream_monitor.app.worker")  # the worker's messages keep their logger

# Loop turns between two slices of a batch. One turn reads at most 256 KiB from a socket, and a
# fetch of 4 MiB then took 16 slices (~1 s of work) to arrive: the worker went idle after each
# batch waiting for the next (one worker kept 0.90 of a core busy on envelopes; with 8, 0.95-0.99).
TURNS_BETWEEN_SLICES = 8


def consumer_fetch_bytes(settings: ServiceSettings) -> int:
    """The consumer's per-partition fetch size (a record can still arrive larger: a broker
    returns the first record of a partition whatever its size)."""
    return max(settings.limits.max_message_bytes * 2, 4 * 1_048_576)


def dead_letter_value_bytes(settings: ServiceSettings) -> int:
    """The largest dead-letter value published whole; longer ones are cut (with a hash)."""
    return consumer_fetch_bytes(settings)


def producer_request_bytes(settings: ServiceSettings) -> int:
    """The producer's request limit: a whole dead letter, its headers and the batch overhead."""
    return dead_letter_value_bytes(settings) + 2 * MAX_EXTRA_BYTES + 65_536


def partition_key(partition: int) -> bytes:
    return f"partition-{partition}".encode()


def slices(records: Sequence[SourceRecord], max_bytes: int) -> Iterable[Sequence[SourceRecord]]:
    """Consecutive runs of records of at most ``max_bytes`` of values (at least one record each)."""
    start, size = 0, 0
    for i, r in enumerate(records):
        n = len(r.value) if r.value else 0
        if i > start and size + n > max_bytes:
            yield records[start:i]
            start, size = i, 0
        size += n
    if start < len(records):
        yield records[start:]


def broker_credentials(sec: KafkaSecurity) -> Any:
    """faust credentials for the configured security protocol (None for PLAINTEXT)."""
    context = ssl_context(sec)  # the same context as every other client (topic creation, checks)
    if sec.protocol.startswith("SASL"):
        assert sec.sasl_mechanism and sec.sasl_username
        password = sec.password() or ""
        if sec.sasl_mechanism == "PLAIN":
            return faust.SASLCredentials(
                username=sec.sasl_username, password=password, mechanism="PLAIN", ssl_context=context
            )
        return faust.SASLCredentials(
            username=sec.sasl_username, password=password, mechanism=sec.sasl_mechanism, ssl_context=context
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class TableStore:
    """Snapshots in the faust table, written with an explicit changelog partition
    (the agent works on batches, outside faust's per-event context)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, partition: int) -> bytes | None:
        value = self.table.data.get(partition_key(partition))
        return bytes(value) if value is not None else None

    def put(self, partition: int, blob: bytes) -> None:
        key = partition_key(partition)
        self.table.data[key] = blob
        self.table.send_changelog(partition, key, blob)


class FaustPublisher:
    """Produce and wait for the acknowledgement, retrying with backoff for a bounded time."""

    def __init__(self, app: faust.App, timeout: float, health: Health, give_up_after: float = 600.0) -> None:
        self.app = app
        self.timeout = timeout
        self.health = health
        self.give_up_after = give_up_after

    async def publish(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()) -> None:
        started = time.monotonic()
        delay = 0.2
        while True:
            try:
                await asyncio.wait_for(
                    self.app.producer.send_and_wait(
                        topic, key, value, partition=None, timestamp=None, headers=list(headers)
                    ),
                    self.timeout,
                )
            except Exception as exc:  # noqa: BLE001 - any producer failure is retried, then raised
                self.health.broker_error = f"publish to {topic} failing: {type(exc).__name__}"
                if time.monotonic() - started > self.give_up_after:
                    raise PublishError(f"could not publish to {topic} for {self.give_up_after:.0f}s") from exc
                log.warning("publish to %s failed (%s); retrying in %.1fs", topic, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                self.health.broker_error = None
                return


Tick = Callable[[], Awaitable[None]]


def timer(app: faust.App, seconds: float) -> Callable[[Tick], Tick]:
    """``app.timer``, typed (faust's decorator is not)."""
    return cast(Callable[[Tick], Tick], app.timer(seconds))


async def any_reachable(bootstrap: str, connect_timeout: float = 1.0) -> bool:
    """Whether any bootstrap server accepts a TCP connection (a liveness signal)."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), connect_timeout)
        except (OSError, TimeoutError, ValueError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


def consumer_class(fetch_max_wait_ms: int) -> type[Any]:
    """faust's aiokafka consumer with ``fetch_max_wait_ms`` set (faust passes a fixed 1500).

    Measured with a bare faust agent on the embedded broker: a record produced while
    a fetch waits reached the agent after ~0.7 s with 1500 ms, ~0.2 s with 500 ms and
    ~0.1 s with 100 ms (of which ~0.1 s was the producer's flush); a bare aiokafka
    consumer got it in ~2 ms at any setting. An idle worker sends ``1000 /
    fetch_max_wait_ms`` empty fetches a second.
    """

    class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read when the consumer starts its fetcher
            return consumer

    class Consumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> ConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    return Consumer
