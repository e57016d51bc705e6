"""Builds the faust app from settings and runs it. Wiring only.

One agent consumes the prediction, feature and label topics (raw bytes, no
faust models) in batches and hands them to the :class:`Runtime`. The monitor
state of each source partition lives in a changelog-backed table keyed by
partition, so a restarted or rebalanced worker recovers it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

import faust
import mode
from faust.types import TP, TableT, TopicT
from prometheus_client import CollectorRegistry

from stream_monitor.app import faust_io
from stream_monitor.app.records import RecordGuard, install
from stream_monitor.app.runtime import Runtime
from stream_monitor.app.timers import RepeatFilter, WorkerTimers, install_repeat_filter
from stream_monitor.app.web import Health, LoopWatchdog, WebServer
from stream_monitor.config.groups import TopicSettings
from stream_monitor.pipeline.outcome import SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.windows.profile import ReferenceProfile

__all__ = ["MonitorApp", "create_app"]

log = logging.getLogger(__name__)
TABLE_NAME = "monitor-state"


class MonitorApp(WorkerTimers):
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
        self.app = _faust_app(settings)
        # Records of the source topics the Kafka client cannot decode become dead letters.
        self.guard = RecordGuard((t.predictions, t.features, t.labels))
        install(self.guard)
        # Before the consumer exists; faust reads the class from the transport instance.
        self.app.transport.Consumer = faust_io.consumer_class(w.fetch_max_wait_ms)  # type: ignore[misc]
        self.source, self.table = _source_and_table(self.app, t)
        self.metrics = MonitorMetrics(self.registry, lambda: self.runtime.all_monitors())
        self.runtime = Runtime(
            settings,
            references,
            faust_io.FaustPublisher(self.app, w.publish_timeout_seconds, self.health),
            self.metrics,
            faust_io.TableStore(self.table),
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


def _faust_app(settings: ServiceSettings) -> faust.App:
    """The faust app of a worker: its broker, group, commit and table settings."""
    s, t, w = settings, settings.topics, settings.worker
    return faust.App(
        w.app_id,
        broker=[f"kafka://{h.strip()}" for h in s.kafka.bootstrap_servers.split(",")],
        broker_credentials=faust_io.broker_credentials(s.kafka.security),
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
        producer_max_request_size=faust_io.producer_request_bytes(s),
        consumer_max_fetch_size=faust_io.consumer_fetch_bytes(s),
        stream_buffer_maxsize=max(w.batch_max_events * 2, 4096),
        table_cleanup_interval=3600.0,
    )


def _source_and_table(app: faust.App, t: TopicSettings) -> tuple[TopicT, TableT[bytes, bytes]]:
    """The source topics (raw bytes) and the changelog-backed table of monitor snapshots."""
    source = app.topic(
        t.predictions,
        t.features,
        t.labels,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=t.partitions,
    )
    table = app.Table(
        TABLE_NAME,
        key_type=bytes,  # bytes key/value types make faust use the raw codec
        value_type=bytes,
        partitions=t.partitions,
        default=None,
    )
    return source, table
