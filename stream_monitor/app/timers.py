"""The worker's periodic checks (re-seeks, log resets, event-loop lag, broker reachability,
consumer lag) and the log filter whose summaries a timer flushes.

:class:`WorkerTimers` is the base class of
:class:`~stream_monitor.app.worker.MonitorApp`: it registers the timers on the
faust app and reads the consumer's high watermarks and log starts for them.

Repeated log lines collapse into one summary per interval. While the broker is down,
the Kafka client and faust log the same connection errors many times a second (about
80 lines a second were seen). A :class:`RepeatFilter` on the log handlers lets the
first line of each kind through per interval, counts the rest, and
:meth:`RepeatFilter.flush` (called by a timer) logs one summary line per kind with the
count. A kind is the logger, the level and the message *template* (never its
arguments), so a summary carries no record values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

import faust
from faust.types import TP

from stream_monitor.app.faust_io import any_reachable, timer
from stream_monitor.app.runtime import Runtime
from stream_monitor.app.web import Health, LoopWatchdog
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.prometheus import MonitorMetrics

__all__ = ["RepeatFilter", "WorkerTimers", "install_repeat_filter"]


_MAX_KINDS: Final = 1_000


class RepeatFilter(logging.Filter):
    """Pass the first record of a kind per ``interval_seconds``; count the others."""

    def __init__(self, interval_seconds: float = 10.0, level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval_seconds
        self.level = level
        self.clock = clock
        self._kinds: dict[tuple[str, int, str], list[float]] = {}  # kind -> [window start, suppressed]
        self.summary_logger = logging.getLogger("stream_monitor.logs")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level or record.name == self.summary_logger.name:
            return True
        kind = (record.name, record.levelno, str(record.msg)[:200])
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is None or now - seen[0] >= self.interval:
            if seen is not None and seen[1]:
                self._summarise(kind, seen, now)
            if len(self._kinds) >= _MAX_KINDS:
                self.flush()
                self._kinds.clear()
            self._kinds[kind] = [now, 0]
            return True
        seen[1] += 1
        return False

    def flush(self) -> None:
        """Log one summary per kind whose interval ended with lines suppressed."""
        now = self.clock()
        for kind, seen in list(self._kinds.items()):
            if now - seen[0] >= self.interval:
                if seen[1]:
                    self._summarise(kind, seen, now)
                del self._kinds[kind]

    def _summarise(self, kind: tuple[str, int, str], seen: list[float], now: float) -> None:
        name, level, template = kind
        self.summary_logger.log(level, "%d more %s lines like %r from %s in the last %.0fs",
                                int(seen[1]), logging.getLevelName(level), template, name, now - seen[0])
        seen[1] = 0


def install_repeat_filter(flt: RepeatFilter) -> None:
    """Put ``flt`` on every handler of the root logger (records of every logger pass there)."""
    root = logging.getLogger()
    targets: list[logging.Filterer] = [*root.handlers] or [root]
    for target in targets:
        if flt not in target.filters:
            target.addFilter(flt)


log = logging.getLogger("stream_monitor.app.worker")  # the worker's messages keep their logger


class WorkerTimers:
    """The timers of :class:`~stream_monitor.app.worker.MonitorApp`, which sets the state declared here."""

    settings: ServiceSettings
    app: faust.App
    runtime: Runtime
    health: Health
    metrics: MonitorMetrics
    watchdog: LoopWatchdog
    log_filter: RepeatFilter

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

    def _wire_timers(self) -> None:
        app, runtime = self.app, self.runtime

        @timer(app, max(self.settings.worker.snapshot_interval_seconds, 0.1))
        async def flush_snapshots() -> None:
            runtime.flush_dirty()

        timer(app, 1.0)(self._reseek)
        timer(app, 0.5)(self._event_loop_lag)
        timer(app, 2.0)(self._broker_probe)
        timer(app, 2.0)(self._consumer_lag)

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
        reachable = await any_reachable(self.settings.kafka.bootstrap_servers)
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
            pos = mon.view(models=()).position(tp.topic, tp.partition) if mon else None
            if high is None:
                continue
            lag = max(high - (pos if pos is not None else high), 0)
            total += lag
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
        self.health.lag_records = total
        if total == 0:
            self.health.last_batch_at = time.monotonic()
