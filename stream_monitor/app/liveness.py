"""Liveness: notice a blocked event loop while it is blocked, and report it.

The web server and every timer run on the faust event loop, so a handler that
blocks the loop also silences /healthz. A daemon thread therefore watches a
heartbeat the loop writes twice a second: when it goes stale it logs a warning
with the Python stack of every thread (file and line only, no values), counts
the episode in ``stream_monitor_event_loop_blocked_total`` and marks the worker
unhealthy; /healthz keeps answering 503 for a minute after the loop recovers so
that a probe or scrape sees the episode.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["LoopWatchdog"]

log = logging.getLogger(__name__)


class LoopWatchdog:
    """Watches the event loop's heartbeat from a separate thread.

    Parameters
    ----------
    limit_seconds
        A heartbeat older than this counts as a blocked loop.
    on_blocked
        Called (from the watchdog thread) once per episode with the stall length.
    """

    def __init__(self, limit_seconds: float, on_blocked: Callable[[float], None], interval: float = 0.25) -> None:
        self.limit_seconds = limit_seconds
        self.on_blocked = on_blocked
        self.interval = interval
        self.last_beat = time.monotonic()
        self.blocked_until: float = 0.0  # monotonic time until which health reports the episode
        self.longest_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loop-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def blocked_recently(self) -> bool:
        return time.monotonic() < self.blocked_until or self.stalled_for() > self.limit_seconds

    def stalled_for(self) -> float:
        return time.monotonic() - self.last_beat

    def _run(self) -> None:
        in_episode = False
        while not self._stop.wait(self.interval):
            stalled = self.stalled_for()
            if stalled > self.limit_seconds:
                self.blocked_until = time.monotonic() + 60.0
                self.longest_seconds = max(self.longest_seconds, stalled)
                if not in_episode:
                    in_episode = True
                    log.warning("event loop blocked for %.1fs; stacks follow", stalled)
                    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
                    self.on_blocked(stalled)
            elif in_episode:
                in_episode = False
                log.warning("event loop running again (longest stall %.1fs)", self.longest_seconds)
