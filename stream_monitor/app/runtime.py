"""The runtime: one Monitor per source partition, fed by the agent, persisted in a table.

This is wiring only. It turns consumed records into
:class:`~stream_monitor.pipeline.monitor.SourceRecord` values, calls the pure core, and
hands the outcome to the sinks: dead letters and retrain requests are
published (acknowledged) before the batch is acknowledged; snapshots go to the
changelog-backed table, keyed by partition, carrying the consumer positions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from stream_monitor.app.faust_io import TURNS_BETWEEN_SLICES, dead_letter_value_bytes, slices
from stream_monitor.app.positions import PartitionPositions, Seeker
from stream_monitor.errors import PublishError, SnapshotError
from stream_monitor.events.models import EventKind
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.pipeline.outcome import ROUTED_FROM, Outcome, SourceRecord
from stream_monitor.report.history import StatusHistory, status_payload
from stream_monitor.report.status_view import version_views
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.sinks.topics import DeadLetterSink, Publisher, RetrainTopicSink
from stream_monitor.windows.profile import ReferenceProfile

__all__ = ["Runtime", "SnapshotStore"]

log = logging.getLogger(__name__)

class SnapshotStore(Protocol):
    def get(self, partition: int) -> bytes | None: ...

    def put(self, partition: int, blob: bytes) -> None: ...


class Runtime(PartitionPositions):
    """Owns the per-partition monitors of this worker."""

    def __init__(
        self,
        settings: ServiceSettings,
        references: Mapping[str, ReferenceProfile | None],
        publisher: Publisher,
        metrics: MonitorMetrics | None,
        store: SnapshotStore,
        seek: Seeker,
        clock: Callable[[], float] = time.time,
        version_references: Mapping[str, Mapping[str, ReferenceProfile]] | None = None,
        before_publish: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.before_publish = before_publish  # a fault-injection hook for tests
        self.references = references
        self.version_references = version_references or {}
        self.metrics = metrics
        self.store = store
        self.seek = seek
        self.clock = clock
        t = settings.topics
        self.kinds: dict[str, EventKind] = {t.predictions: "prediction", t.features: "feature", t.labels: "label"}
        self.dead_letters = DeadLetterSink(
            publisher, t.dead_letter, dead_letter_value_bytes(settings),
            published=metrics.dead_lettered if metrics is not None else None,
        )
        self.retrain = RetrainTopicSink(publisher, t.retrain_requests)
        self.routes = publisher
        self.monitors: dict[int, Monitor] = {}
        self._dirty: set[int] = set()
        self._written_at: dict[int, float] = {}
        self._sizes: dict[int, int] = {}
        self._seeking: dict[tuple[str, int], tuple[int, float]] = {}
        self.recent_requests: deque[dict[str, Any]] = deque(maxlen=20)
        self.history = StatusHistory()  # the status page's plots (bounded)

    # -- monitors per partition --------------------------------------------------------

    def _new_monitor(self) -> Monitor:
        return Monitor(
            self.settings.models,
            self.references,
            max_message_bytes=self.settings.limits.max_message_bytes,
            version_references=self.version_references,
            max_event_skew_seconds=self.settings.limits.max_event_skew_seconds,
            version_idle_seconds=self.settings.limits.version_idle_seconds,
            route_null_keys=True,
        )

    async def monitor_for(self, partition: int) -> Monitor:
        mon = self.monitors.get(partition)
        if mon is not None:
            return mon
        mon = self._new_monitor()
        blob = self.store.get(partition)
        if blob:
            try:
                reset = mon.restore(blob)
            except SnapshotError as exc:
                log.warning("partition %d: %s; the partition starts fresh", partition, exc)
                mon = self._new_monitor()
                self._count_restore("unreadable")
            else:
                if reset:
                    log.warning("partition %d: configuration changed, state reset for %s", partition, reset)
                self._count_restore("reset" if reset else "restored")
                positions = len(mon.view(models=()).positions)
                log.info("partition %d: state restored (%d positions)", partition, positions)
        self.monitors[partition] = mon
        pending = mon.view(models=()).pending
        if pending:  # decided before a crash, maybe never published
            await self._publish(mon, pending)
        return mon

    def _count_restore(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.state_restores.labels(result).inc()

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop the monitors of revoked partitions; their new owner restores them."""
        partitions = list(partitions)
        for p in partitions:
            self.monitors.pop(p, None)
            self._dirty.discard(p)
        gone = set(partitions)
        self._seeking = {tp: v for tp, v in self._seeking.items() if tp[1] not in gone}

    def all_monitors(self) -> list[Monitor]:
        return list(self.monitors.values())

    # -- the hot path ------------------------------------------------------------------

    async def handle(self, records: Sequence[SourceRecord]) -> None:
        started = time.perf_counter()
        by_partition: dict[int, list[SourceRecord]] = {}
        for r in records:
            by_partition.setdefault(r.partition, []).append(r)
        limit = self.settings.worker.slice_max_bytes
        for partition, recs in by_partition.items():
            mon = await self.monitor_for(partition)
            for piece in slices(recs, limit):
                if self.monitors.get(partition) is not mon:
                    break  # revoked while the loop turned: the new owner reads these records again
                now = self.clock()
                outcome = mon.observe(piece, now)
                try:
                    await self._emit(mon, outcome, now)
                except PublishError as exc:
                    await self._roll_back(partition, exc)
                    break
                self._dirty.add(partition)
                force = bool(outcome.reports or outcome.requests)
                self.maybe_snapshot(partition, force=force)
                if len(piece) < len(recs):
                    for _ in range(TURNS_BETWEEN_SLICES):  # let the loop turn: timers, scrapes, fetches
                        await asyncio.sleep(0)
        if self.metrics is not None:
            self.metrics.batch_seconds.observe(time.perf_counter() - started)

    async def _emit(self, mon: Monitor, outcome: Outcome, now: float) -> None:
        # Publish first, count after: a piece rolled back on a failed publish is counted
        # when it is read again, once.
        await self.dead_letters.emit(outcome)
        for route in outcome.routes:  # null-key records, to the partition of their model id
            rec = route.record
            await self.routes.publish(rec.topic, route.model_id.encode(), route.value,
                                      [*(h for h in rec.headers if h[0] != ROUTED_FROM),
                                       (ROUTED_FROM, f"{rec.partition}:{rec.offset}".encode())])
        if outcome.requests:
            await self._publish(mon, outcome.requests)
        if self.metrics is not None:
            self.metrics.observe(outcome, now)
        if outcome.consumed:
            self.history.record(outcome.reports, version_views([mon], sorted({m for m, _, _ in outcome.consumed})))
        for (topic, partition), offset in outcome.seeks.items():
            await self._seek_once(topic, partition, offset, now)

    async def _publish(self, mon: Monitor, requests: Sequence[Any]) -> None:
        if self.before_publish is not None:
            await self.before_publish()
        done = await self.retrain.publish(requests)
        mon.mark_published(done)
        if self.metrics is not None:
            for r in requests:
                self.metrics.published(r.model_id, r.model_version, r.severity)
        for r in requests:
            self.recent_requests.appendleft(
                {
                    "request_id": r.request_id,
                    "model_id": r.model_id,
                    "model_version": r.model_version,
                    "severity": r.severity,
                    "features": sorted({x.feature or "" for x in r.reasons}),
                    "created_at": r.created_at,  # event time of the window that made it
                    "published_at": self.clock(),
                    "supersedes": r.supersedes,
                }
            )
            log.warning(
                "retrain request %s published for %s/%s (%s): %s",
                r.request_id, r.model_id, r.model_version, r.severity,
                ", ".join(sorted({f"{x.feature}:{x.detector}" for x in r.reasons})),
            )

    # -- persistence -------------------------------------------------------------------

    def maybe_snapshot(self, partition: int, *, force: bool = False) -> None:
        interval = self.settings.worker.snapshot_interval_seconds
        now = time.monotonic()
        if not force and now - self._written_at.get(partition, 0.0) < interval:
            return
        mon = self.monitors.get(partition)
        if mon is None:
            return
        blob = mon.snapshot()
        self.store.put(partition, blob)
        self._written_at[partition] = now
        self._dirty.discard(partition)
        self._sizes[partition] = len(blob)
        if self.metrics is not None:
            self.metrics.state_bytes.set(sum(self._sizes.get(p, 0) for p in self.monitors))

    def flush_dirty(self) -> None:
        """Persist every monitor changed since its last snapshot (timer and shutdown)."""
        for partition in list(self._dirty):
            self.maybe_snapshot(partition, force=True)

    def status(self) -> dict[str, Any]:
        """A JSON-able view for /status: states, last windows, plots' data, recent requests."""
        return status_payload(version_views(self.monitors.values()), self.history, self.recent_requests)
