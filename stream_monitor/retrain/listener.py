"""The retrain listener: a consumer-group member that feeds batches to the engine.

It subscribes to the retrain topic with auto-commit off, fetches what is
available (and, with ``coalesce_seconds``, what arrives shortly after, so an
update can supersede its predecessor before that is handled; at most
:data:`MAX_BATCH_RECORDS` records), plans the batch
and lets the :class:`~stream_monitor.retrain.engine.Engine` carry it out,
committing each record's offset after it is resolved. Kafka security
(TLS, SASL) is the worker's: the same ``kafka.security`` settings.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from stream_monitor.retrain.engine import Engine
from stream_monitor.retrain.handlers import Handler
from stream_monitor.retrain.options import ListenOptions, ListenStats
from stream_monitor.retrain.plan import Incoming, plan
from stream_monitor.retrain.store import DedupStore
from stream_monitor.tools.kafka_admin import client_security

__all__ = ["MAX_BATCH_RECORDS", "RetrainListener"]

log = logging.getLogger("stream_monitor.retrain")

MAX_BATCH_RECORDS = 10_000  # bounds the memory of one batch when the topic has a backlog


class RetrainListener:
    """Consume retrain requests and hand each to ``handler`` at least once.

    Call :meth:`run` in an event loop; :meth:`stop` (from a signal handler, say)
    makes it finish the current request (within the grace period), leave the
    group and return its counters.
    """

    def __init__(self, options: ListenOptions, handler: Handler) -> None:
        self.options = options
        self.handler = handler
        self.stats = ListenStats()
        self._engine: Engine | None = None
        self._stop_requested = False

    def stop(self) -> None:
        self._stop_requested = True
        if self._engine is not None:
            self._engine.stopping.set()

    async def run(self) -> ListenStats:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        o = self.options
        security = client_security(o.security)
        consumer = AIOKafkaConsumer(
            o.topic, bootstrap_servers=o.bootstrap_servers, group_id=o.group_id, enable_auto_commit=False,
            auto_offset_reset=o.auto_offset_reset, session_timeout_ms=int(o.session_timeout_seconds * 1000),
            heartbeat_interval_ms=int(o.session_timeout_seconds * 1000 / 3),
            max_poll_interval_ms=int(o.max_poll_interval_seconds() * 1000), **security,
        )
        producer = AIOKafkaProducer(bootstrap_servers=o.bootstrap_servers, acks="all", **security)
        store = DedupStore(o.store_path, o.store_max_entries)
        try:
            await producer.start()
            await consumer.start()

            async def publish(topic: str, key: bytes | None, value: bytes | None,
                              headers: list[tuple[str, bytes]]) -> None:
                await producer.send_and_wait(topic, value, key=key, headers=headers)

            engine = Engine(o, self.handler, store, publish, self._committer(consumer), self.stats)
            self._engine = engine
            if self._stop_requested:
                engine.stopping.set()
            log.info("listening on %s (group %s)", o.topic, o.group_id)
            while not engine.stopping.is_set():
                records = await self._fetch(consumer, engine.stopping)
                if records:
                    await engine.execute(plan(records, lambda rid: store.get(rid) is not None))
        finally:
            await consumer.stop()  # leaves the group: the partitions move on at once
            await producer.stop()
            store.close()
        return self.stats

    def _committer(self, consumer: Any) -> Any:
        from aiokafka import TopicPartition
        from aiokafka.errors import KafkaError

        async def commit(record: Incoming) -> None:
            try:
                await consumer.commit({TopicPartition(record.topic, record.partition): record.offset + 1})
            except KafkaError as exc:  # a rebalance took the partition: the store skips the re-delivery
                self.stats.commit_failures += 1
                log.warning("offset commit of %s[%d]@%d failed (%s)", record.topic, record.partition,
                            record.offset, type(exc).__name__)

        return commit

    async def _fetch(self, consumer: Any, stopping: asyncio.Event) -> list[Incoming]:
        got: dict[tuple[str, int], list[Incoming]] = {}
        deadline: float | None = None
        count = 0
        loop = asyncio.get_running_loop()
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=MAX_BATCH_RECORDS - count)
            for tp, records in batch.items():
                got.setdefault((tp.topic, tp.partition), []).extend(
                    Incoming(tp.topic, tp.partition, r.offset, r.key, r.value, tuple(r.headers or ()))
                    for r in records
                )
                count += len(records)
            if count >= MAX_BATCH_RECORDS:  # a backlog: plan this much, then fetch on
                break
            if got and deadline is None:
                deadline = loop.time() + self.options.coalesce_seconds
            if deadline is not None and loop.time() >= deadline:
                break
        return [r for key in sorted(got) for r in got[key]]
