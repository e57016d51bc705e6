"""Builds the faust app from settings and runs it. Wiring only.

One agent consumes the prediction, feature and label topics (raw bytes, no
faust models) in batches and hands them to the :class:`Runtime`. The monitor
state of each source partition lives in a changelog-backed table keyed by
partition, so a restarted or rebalanced worker recovers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Set
from pathlib import Path
from typing import Any, cast

import faust
import mode
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from prometheus_client import CollectorRegistry

from stream_monitor.app.liveness import LoopWatchdog
from stream_monitor.app.logs import RepeatFilter, install_repeat_filter
from stream_monitor.app.records import RecordGuard, install
from stream_monitor.app.runtime import Runtime, consumer_fetch_bytes, partition_key, producer_request_bytes
from stream_monitor.app.web import Health, WebServer
from stream_monitor.config.groups import KafkaSecurity
from stream_monitor.errors import PublishError
from stream_monitor.pipeline.monitor import SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.base import Headers
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.tools.kafka_admin import ssl_context
from stream_monitor.windows.profile import ReferenceProfile

__all__ = ["MonitorApp", "broker_credentials", "consumer_class", "create_app"]

log = logging.getLogger(__name__)
TABLE_NAME = "monitor-state"


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


class _TableStore:
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


class _FaustPublisher:
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


def _timer(app: faust.App, seconds: float) -> Callable[[Tick], Tick]:
    """``app.timer``, typed (faust's decorator is not)."""
    return cast(Callable[[Tick], Tick], app.timer(seconds))


async def _any_reachable(bootstrap: str, connect_timeout: float = 1.0) -> bool:
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


class MonitorApp:
    """The faust app, its runtime, metrics and web server."""

    def __init__(
        self,
        settings: ServiceSettings,
        references: Mapping[str, ReferenceProfile | None],
        registry: CollectorRegistry | None = None,
        version_references: Mapping[str, Mapping[str, ReferenceProfile]] | None = None,
    ) -> None:
        self.settings = settings
        s, t, w = settings, settings.topics, settings.worker
        self.registry = registry or CollectorRegistry()
        self.health = Health(
            stall_after_seconds=w.stall_after_seconds, loop_lag_limit_seconds=w.loop_block_limit_seconds
        )
        self.app = faust.App(
            w.app_id,
            broker=[f"kafka://{h.strip()}" for h in s.kafka.bootstrap_servers.split(",")],
            broker_credentials=broker_credentials(s.kafka.security),
            web_enabled=False,
            datadir=str(w.data_dir),
            topic_partitions=t.partitions,
            topic_replication_factor=t.replication_factor,
            topic_allow_declare=True,
            broker_commit_interval=w.commit_interval_seconds,
            # faust's 60 s default makes a fresh group hang in join on Tansu; 10 s
            # joins in ~5 s and bounds failover after a SIGKILL to ~15 s.
            broker_session_timeout=w.session_timeout_seconds,
            consumer_auto_offset_reset="earliest",
            processing_guarantee="at_least_once",
            producer_acks=-1,
            # The producer takes every dead letter the consumer can hand it (values
            # above the fetch size are cut, with a hash of the whole, before publishing).
            producer_max_request_size=producer_request_bytes(s),
            consumer_max_fetch_size=consumer_fetch_bytes(s),
            stream_buffer_maxsize=max(w.batch_max_events * 2, 4096),
            table_cleanup_interval=3600.0,
        )
        # Records of the source topics the Kafka client cannot decode become dead letters.
        self.guard = RecordGuard((t.predictions, t.features, t.labels))
        install(self.guard)
        # Before the consumer exists; faust reads the class from the transport instance.
        self.app.transport.Consumer = consumer_class(w.fetch_max_wait_ms)  # type: ignore[misc]
        self.source = self.app.topic(
            t.predictions,
            t.features,
            t.labels,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=t.partitions,
        )
        self.table = self.app.Table(
            TABLE_NAME,
            key_type=bytes,  # bytes key/value types make faust use the raw codec
            value_type=bytes,
            partitions=t.partitions,
            default=None,
        )
        self.metrics = MonitorMetrics(self.registry, lambda: self.runtime.all_monitors())
        self.runtime = Runtime(
            settings,
            references,
            _FaustPublisher(self.app, w.publish_timeout_seconds, self.health),
            self.metrics,
            _TableStore(self.table),
            self._seek,
            version_references=version_references,
            before_publish=self._crash_before_publish if s.faults.crash_before_publish else None,
        )
        self.watchdog = LoopWatchdog(w.loop_block_limit_seconds, lambda _: self.metrics.loop_blocked.inc())
        self.health.loop_blocked = self.watchdog.blocked_recently
        self._batches = 0
        self.log_filter = RepeatFilter(interval_seconds=10.0)  # one summary line per kind and 10 s
        self.web = WebServer(self.registry, self.health, self.runtime.status, s.web.host, s.web.port)
        self._wire()

    async def _seek(self, topic: str, partition: int, offset: int) -> None:
        # seek_wait runs the seek in faust's consumer thread. Consumer.seek() would call
        # aiokafka from the event loop thread while that thread fetches, which crashed
        # the fetcher (KeyError in Fetcher.fetched_records) in a CI run.
        await self.app.consumer.seek_wait({TP(topic, partition): offset})

    async def _crash_before_publish(self) -> None:
        """Fault injection: die once after deciding a request, before publishing it."""
        marker = Path(self.settings.worker.data_dir) / "fault-crashed-before-publish"
        if marker.exists():
            return
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        self.runtime.flush_dirty()
        await self.app.producer.flush()
        log.warning("fault injection: exiting between deciding and publishing a retrain request")
        os._exit(137)

    def _maybe_block_loop(self) -> None:
        faults = self.settings.faults
        self._batches += 1
        if faults.block_loop_seconds and self._batches == faults.block_after_batches:
            log.warning("fault injection: blocking the event loop for %.1fs", faults.block_loop_seconds)
            time.sleep(faults.block_loop_seconds)  # deliberately blocking

    def _highwater(self, topic: str, partition: int) -> int | None:
        # The fetch high watermark; Tansu's ListOffsets(latest) is wrong, never use it.
        try:
            return self.app.consumer.highwater(TP(topic, partition))
        except Exception:  # noqa: BLE001 - unknown before the first fetch
            return None

    async def _log_start(self, topic: str, partition: int) -> int | None:
        tp = TP(topic, partition)
        try:
            return (await self.app.consumer.earliest_offsets(tp)).get(tp)
        except Exception:  # noqa: BLE001 - unknown while the broker does not answer
            return None

    def _record(self, event: Any) -> SourceRecord:
        msg = event.message
        headers = msg.headers
        if headers:
            if isinstance(headers, Mapping):
                headers = headers.items()
            headers = tuple((str(k), bytes(v or b"")) for k, v in headers)
        mark = self.guard.take(msg.topic, msg.partition, msg.offset)
        return SourceRecord(self.runtime.kinds[msg.topic], msg.value, msg.topic, msg.partition, msg.offset, msg.key,
                            headers or (), None if mark is None else (mark.reason, mark.message, mark.next_offset))

    def _wire(self) -> None:
        self._wire_agent()
        self._wire_timers()
        self._wire_rebalance()
        self._wire_web()

    def _wire_agent(self) -> None:
        runtime, w = self.runtime, self.settings.worker

        @self.app.agent(self.source, name="stream-monitor.monitor")
        async def monitor(stream: Any) -> None:
            async for events in stream.take_events(w.batch_max_events, within=w.batch_max_seconds):
                await runtime.handle([self._record(e) for e in events])
                self.health.last_batch_at = time.monotonic()
                self._maybe_block_loop()

    def _wire_timers(self) -> None:
        app, runtime = self.app, self.runtime

        @_timer(app, max(self.settings.worker.snapshot_interval_seconds, 0.1))
        async def flush_snapshots() -> None:
            runtime.flush_dirty()

        _timer(app, 1.0)(self._reseek)
        _timer(app, 0.5)(self._event_loop_lag)
        _timer(app, 2.0)(self._broker_probe)
        _timer(app, 2.0)(self._consumer_lag)

    async def _reseek(self) -> None:
        # One seek is often undone by records already fetched (they move faust's
        # read offset past the gap again); repeat until the gap is filled.
        try:
            for topic, partition, old, new in await self.runtime.check_log_resets(self._highwater, self._log_start):
                self.health.degrade(f"log of {topic}[{partition}] reset (position {old}): reprocessing from {new}")
            await self.runtime.reseek_out_of_step(self._highwater)
        except Exception as exc:  # noqa: BLE001 - retried on the next tick
            log.warning("re-seek failed (%s); retrying in 1 s", type(exc).__name__)

    async def _event_loop_lag(self) -> None:
        # How late a 0.1 s sleep wakes up measures how long the loop was blocked.
        t0 = time.monotonic()
        await asyncio.sleep(0.1)
        lag = max(time.monotonic() - t0 - 0.1, 0.0)
        self.watchdog.beat()
        self.health.loop_lag_seconds = lag
        self.metrics.event_loop_lag.set(lag)

    async def _broker_probe(self) -> None:
        self.log_filter.flush()
        reachable = await _any_reachable(self.settings.kafka.bootstrap_servers)
        self.metrics.broker_reachable.set(1 if reachable else 0)
        if reachable:
            self.health.broker_unreachable_since = None
        elif self.health.broker_unreachable_since is None:
            self.health.broker_unreachable_since = time.monotonic()
            log.warning("no bootstrap server reachable")

    async def _consumer_lag(self) -> None:
        total = 0
        consumer, runtime = self.app.consumer, self.runtime
        for tp in list(consumer.assignment()):
            if tp.topic not in runtime.kinds:
                continue
            high = consumer.highwater(tp)
            mon = runtime.monitors.get(tp.partition)
            pos = mon.positions.get((tp.topic, tp.partition)) if mon else None
            if high is None:
                continue
            lag = max(high - (pos if pos is not None else high), 0)
            total += lag
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
        self.health.lag_records = total
        if total == 0:
            self.health.last_batch_at = time.monotonic()

    def _wire_rebalance(self) -> None:
        app, runtime = self.app, self.runtime

        @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode types receivers as (sender, *args)
        async def on_revoked(sender: Any, revoked: Set[TP], **kwargs: Any) -> None:
            runtime.flush_dirty()
            partitions = {tp.partition for tp in revoked if tp.topic in runtime.kinds}
            runtime.forget(partitions)
            for tp in revoked:
                if tp.topic in runtime.kinds:
                    with contextlib.suppress(KeyError):
                        self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))

        @app.on_rebalance_complete.connect  # type: ignore[arg-type]
        async def on_rebalanced(sender: Any, **kwargs: Any) -> None:
            await self._align_assigned()

    async def _align_assigned(self) -> None:
        # Tables are recovered by now: align each partition with its state.
        consumer = self.app.consumer
        tps = [tp for tp in consumer.assignment() if tp.topic in self.runtime.kinds]
        try:
            earliest = await consumer.earliest_offsets(*tps) if tps else {}
        except Exception as exc:  # noqa: BLE001 - a broker hiccup must not break the rebalance
            log.warning("could not read log start offsets (%s); new partitions start where faust does",
                        type(exc).__name__)
            earliest = {}
        await self.runtime.on_assigned(
            [(tp.topic, tp.partition) for tp in tps],
            {(tp.topic, tp.partition): off for tp, off in earliest.items()},
        )
        self.health.ready = True
        self.metrics.ready.set(1)

    def _wire_web(self) -> None:
        outer = self

        class WebService(mode.Service):
            """Runs the HTTP server for the lifetime of the worker."""

            async def on_start(self) -> None:
                install_repeat_filter(outer.log_filter)  # after faust set up its log handlers
                outer.metrics.up.set(1)
                outer.watchdog.beat()
                outer.watchdog.start()
                await outer.web.start()
                log.info("metrics on http://%s:%d/metrics", outer.settings.web.host, outer.settings.web.port)

            async def on_stop(self) -> None:
                outer.watchdog.stop()
                await outer.web.stop()

        self.app.service(WebService)


def create_app(
    settings: ServiceSettings,
    references: Mapping[str, ReferenceProfile | None],
    registry: CollectorRegistry | None = None,
    version_references: Mapping[str, Mapping[str, ReferenceProfile]] | None = None,
) -> MonitorApp:
    return MonitorApp(settings, references, registry, version_references)
