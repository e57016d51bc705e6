"""Small helpers for integration tests: produce, read a topic until quiet, scrape metrics."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int = -1  # the record's timestamp (CreateTime: when the producer sent it)


async def _produce(bootstrap: str, topic: str, values: Iterable[bytes | None], key: bytes | None,
                   partition: int | None) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_request_size=8 * 1024 * 1024)
    await producer.start()
    n = 0
    try:
        futures = []
        for v in values:
            futures.append(await producer.send(topic, v, key=key, partition=partition))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


def produce(bootstrap: str, topic: str, values: Iterable[bytes | None], key: bytes | None = b"fraud-detector",
            partition: int | None = None) -> int:
    return asyncio.run(_produce(bootstrap, topic, values, key, partition))


async def _read(bootstrap: str, topic: str, quiet: float, timeout: float) -> list[Rec]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=16 * 1024 * 1024,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    out: list[Rec] = []
    try:
        parts = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + 10
        while not parts and time.monotonic() < deadline:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        if not parts:
            return out
        consumer.assign([TopicPartition(topic, p) for p in parts])
        await consumer.seek_to_beginning()
        last = time.monotonic()
        end = time.monotonic() + timeout
        # Tansu's end_offsets() is wrong: read until nothing has come for `quiet` seconds.
        while time.monotonic() - last < quiet and time.monotonic() < end:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for r in records:
                    out.append(Rec(tp.partition, r.offset, r.key, r.value,
                                   {k: v for k, v in (r.headers or ())}, r.timestamp))
                    last = time.monotonic()
    finally:
        await consumer.stop()
    return out


def read_topic(bootstrap: str, topic: str, quiet: float = 2.0, timeout: float = 60.0) -> list[Rec]:
    return asyncio.run(_read(bootstrap, topic, quiet, timeout))


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local test URL
        return resp.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus text format, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        got = {}
        if "{" in series:
            for part in series[series.index("{") + 1:-1].split('",'):
                if "=" in part:
                    k, v = part.split("=", 1)
                    got[k.strip()] = v.strip().strip('"')
        if all(got.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")
