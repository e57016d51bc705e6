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

from stream_monitor.errors import PublishError, SnapshotError
from stream_monitor.events.models import EventKind
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.pipeline.outcome import ROUTED_FROM, Outcome, SourceRecord
from stream_monitor.report.history import StatusHistory, status_payload
from stream_monitor.report.status_view import version_views
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.base import Publisher
from stream_monitor.sinks.dead_letter import MAX_EXTRA_BYTES, DeadLetterSink
from stream_monitor.sinks.prometheus import SOURCES, MonitorMetrics
from stream_monitor.sinks.retrain_topic import RetrainTopicSink
from stream_monitor.windows.profile import ReferenceProfile

__all__ = [
    "TURNS_BETWEEN_SLICES",
    "Runtime",
    "SnapshotStore",
    "consumer_fetch_bytes",
    "dead_letter_value_bytes",
    "partition_key",
    "producer_request_bytes",
]

log = logging.getLogger(__name__)

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


def _slices(records: Sequence[SourceRecord], max_bytes: int) -> Iterable[Sequence[SourceRecord]]:
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


class SnapshotStore(Protocol):
    def get(self, partition: int) -> bytes | None: ...

    def put(self, partition: int, blob: bytes) -> None: ...


class Seeker(Protocol):
    async def __call__(self, topic: str, partition: int, offset: int) -> None: ...


class Runtime:
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
                log.warning("partition %d: %s", partition, exc)
                mon = self._new_monitor()
            else:
                if reset:
                    log.warning("partition %d: configuration changed, state reset for %s", partition, reset)
                positions = len(mon.view(models=()).positions)
                log.info("partition %d: state restored (%d positions)", partition, positions)
        self.monitors[partition] = mon
        pending = mon.view(models=()).pending
        if pending:  # decided before a crash, maybe never published
            await self._publish(mon, pending)
        return mon

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
            for piece in _slices(recs, limit):
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

    async def _roll_back(self, partition: int, exc: PublishError) -> None:
        """A dead letter or request could not be published: forget what this partition did
        since its last snapshot and read those records again (nothing is dropped)."""
        log.error("partition %d: %s; state rolled back to the last snapshot, records are read again", partition, exc)
        self.monitors.pop(partition, None)
        self._dirty.discard(partition)
        mon = await self.monitor_for(partition)
        now = self.clock()
        for (topic, p), pos in mon.view(models=()).positions.items():
            if p == partition and topic in self.kinds:
                self._seeking[(topic, p)] = (pos, now)  # the watchdog seeks back

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

    async def _seek_once(self, topic: str, partition: int, offset: int, now: float) -> None:
        """Seek back to re-read skipped records; the watchdog repeats it until they come."""
        if (topic, partition) in self._seeking:
            return
        self._seeking[(topic, partition)] = (offset, now)
        log.warning("gap on %s[%d]: seeking back to offset %d", topic, partition, offset)
        await self._seek(topic, partition, offset)

    async def _seek(self, topic: str, partition: int, offset: int) -> None:
        if self.metrics is not None:
            self.metrics.gap_seeks.labels(SOURCES[self.kinds.get(topic, "prediction")]).inc()
        await self.seek(topic, partition, offset)

    async def reseek_out_of_step(self, highwater: Callable[[str, int], int | None]) -> None:
        """Repeat seeks for partitions whose gap is not filled yet (called every second).

        A partition is back in step once a record at the expected offset was applied,
        or when the broker has nothing at or after it (``highwater <= offset``).
        """
        for (topic, partition), (offset, _) in list(self._seeking.items()):
            mon = self.monitors.get(partition)
            pos = mon.view(models=()).position(topic, partition) if mon is not None else None
            high = highwater(topic, partition)
            if (
                mon is None
                or (pos is not None and pos > offset)
                or (high is not None and high <= offset)
            ):
                del self._seeking[(topic, partition)]
                continue
            await self._seek(topic, partition, offset)

    async def check_log_resets(
        self,
        highwater: Callable[[str, int], int | None],
        log_start: Callable[[str, int], Awaitable[int | None]],
    ) -> list[tuple[str, int, int, int]]:
        """Offset regressions: source partitions whose log now ends before the position the
        state has applied, which only a log reset or a recreated topic does (a replay after a
        restart reads a log that still reaches the position). Policy: reprocess the new log
        from its start; the state (windows, detectors) carries on. Returns
        ``(topic, partition, old position, new position)`` per regression.
        """
        out: list[tuple[str, int, int, int]] = []
        for partition, mon in list(self.monitors.items()):
            for (topic, p), pos in mon.view(models=()).positions.items():
                if p != partition or topic not in self.kinds:
                    continue
                high = highwater(topic, p)
                if high is None or high >= pos:
                    continue
                start = await log_start(topic, p)
                start = 0 if start is None or start > high else start
                if self.monitors.get(partition) is not mon:
                    break  # revoked meanwhile
                # Seek now, even into an empty log: the consumer's own position is past the new
                # log's end, which a broker may answer with empty fetches instead of an out-of-range
                # error. Seeking also clears faust's read offset, below which faust drops records.
                await self.seek(topic, p, start)
                mon.set_position(topic, p, start)
                self._seeking[(topic, p)] = (start, self.clock())  # the watchdog repeats the seek
                self._dirty.add(partition)
                self.maybe_snapshot(partition, force=True)
                log.warning("offset regression on %s[%d]: the log ends at %d, before the position %d (log reset or "
                            "topic recreated); reprocessing from offset %d", topic, p, high, pos, start)
                if self.metrics is not None:
                    self.metrics.offset_regressions.labels(SOURCES[self.kinds[topic]]).inc()
                out.append((topic, p, pos, start))
        return out

    async def on_assigned(self, assigned: Iterable[tuple[str, int]], earliest: Mapping[tuple[str, int], int]) -> None:
        """Put every newly assigned source partition at the position its state covers.

        The committed offset can be ahead of the state (faust commits past records
        whose changelog writes a SIGKILL lost, and past records its rebalance race
        dropped); waiting for the next record to reveal the gap is not enough when
        no record comes. A partition the state has never seen starts at the log start.
        The seeks themselves are left to the watchdog (:meth:`reseek_out_of_step`): a
        seek issued inside faust's rebalance callback, before faust's own seek to the
        committed offsets, stalls the consumer (seen on faust 0.15.3).
        """
        now = self.clock()
        for topic, partition in assigned:
            if topic not in self.kinds:
                continue
            mon = await self.monitor_for(partition)
            pos = mon.view(models=()).position(topic, partition)
            if pos is None:
                pos = earliest.get((topic, partition))
                if pos is None:
                    continue
                mon.set_position(topic, partition, pos)
            self._seeking[(topic, partition)] = (pos, now)

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
