"""Where each source partition's records are read from: gaps, rollbacks, log resets, new assignments.

The monitors know, per source partition, the offset of the next record their
state expects (:meth:`~stream_monitor.pipeline.monitor.Monitor.view`). The
consumer can be elsewhere: records skipped in a rebalance, a batch rolled back
after a failed publish, a log reset below the position, a partition assigned
with a committed offset ahead of its state. :class:`PartitionPositions` (the
base class of :class:`~stream_monitor.app.runtime.Runtime`) seeks the consumer
back to the state's position and repeats the seek from a watchdog until the
expected record comes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from stream_monitor.errors import PublishError
from stream_monitor.events.models import EventKind
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.sinks.prometheus import SOURCES, MonitorMetrics

__all__ = ["PartitionPositions", "Seeker"]

log = logging.getLogger("stream_monitor.app.runtime")  # one logger for the runtime's messages


class Seeker(Protocol):
    async def __call__(self, topic: str, partition: int, offset: int) -> None: ...


class PartitionPositions:
    """The seeking half of :class:`~stream_monitor.app.runtime.Runtime`, which sets the state
    declared here and provides :meth:`monitor_for` and :meth:`maybe_snapshot`."""

    monitors: dict[int, Monitor]
    kinds: dict[str, EventKind]
    metrics: MonitorMetrics | None
    seek: Seeker
    clock: Callable[[], float]
    _dirty: set[int]
    _seeking: dict[tuple[str, int], tuple[int, float]]  # (topic, partition) -> (offset, since)
    monitor_for: Callable[[int], Awaitable[Monitor]]
    maybe_snapshot: Callable[..., None]

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
