"""Repeated log lines collapse into one summary per interval.

While the broker is down, the Kafka client and faust log the same connection
errors many times a second (about 80 lines a second were seen). A
:class:`RepeatFilter` on the log handlers lets the first line of each kind through
per interval, counts the rest, and :meth:`RepeatFilter.flush` (called by a timer)
logs one summary line per kind with the count. A kind is the logger, the level and
the message *template* (never its arguments), so a summary carries no record
values.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

__all__ = ["RepeatFilter", "install_repeat_filter"]

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
