"""The worker's HTTP endpoints (aiohttp, on the faust event loop), and the watchdog that
keeps ``/healthz`` true while the loop is blocked.

``/metrics`` (OpenMetrics or the Prometheus text format, as the Accept header asks;
``?name[]=`` restricts it to those series),
``/healthz`` (liveness: 503 while the event loop or the consumer is stalled),
``/readyz`` (partitions assigned and state recovered), ``/status`` (HTML, see
:mod:`stream_monitor.app.status_page`) and ``/status.json``. Binds 127.0.0.1 by
default; faust's own web server (tables, router, stats) stays off.

The web server and every timer run on the faust event loop, so a handler that
blocks the loop also silences /healthz. A daemon thread (:class:`LoopWatchdog`)
therefore watches a heartbeat the loop writes twice a second: when it goes stale it
logs a warning with the Python stack of every thread (file and line only, no values),
counts the episode in ``stream_monitor_event_loop_blocked_total`` and marks the worker
unhealthy; /healthz keeps answering 503 for a minute after the loop recovers so that a
probe or scrape sees the episode.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from stream_monitor.app.status_page import render_status

__all__ = ["Health", "LoopWatchdog", "WebServer"]

log = logging.getLogger(__name__)


@dataclass
class Health:
    """Liveness facts the worker updates; read by /healthz and /readyz."""

    ready: bool = False
    loop_lag_seconds: float = 0.0
    last_batch_at: float = field(default_factory=time.monotonic)
    lag_records: int = 0
    stall_after_seconds: float = 30.0
    loop_lag_limit_seconds: float = 5.0
    broker_error: str | None = None
    loop_blocked: Callable[[], bool] = lambda: False  # set by the worker's watchdog
    broker_unreachable_since: float | None = None
    degraded_seconds: float = 300.0
    notices: dict[str, float] = field(default_factory=dict)  # text -> when (monotonic)

    def degrade(self, text: str) -> None:
        """Report ``text`` as a problem for ``degraded_seconds`` (an event, not a lasting state)."""
        self.notices[text] = time.monotonic()

    def problems(self) -> list[str]:
        out = []
        now = time.monotonic()
        for text, at in list(self.notices.items()):
            if now - at > self.degraded_seconds:
                del self.notices[text]
            else:
                out.append(f"degraded: {text}")
        if self.loop_lag_seconds > self.loop_lag_limit_seconds or self.loop_blocked():
            out.append("event loop blocked (see stream_monitor_event_loop_blocked_total)")
        idle = time.monotonic() - self.last_batch_at
        if self.lag_records > 0 and idle > self.stall_after_seconds:
            out.append(f"consumer stalled: {self.lag_records} records behind, nothing processed for {idle:.0f}s")
        if self.broker_error:
            out.append(f"broker: {self.broker_error}")
        if self.broker_unreachable_since is not None:
            down = time.monotonic() - self.broker_unreachable_since
            if down > self.stall_after_seconds:
                out.append(f"broker unreachable for {down:.0f}s")
        return out


class WebServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        health: Health,
        status: Callable[[], dict[str, Any]],
        host: str,
        port: int,
    ) -> None:
        self.registry = registry
        self.health = health
        self.status = status
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/status", self._status_html)
        app.router.add_get("/status.json", self._status_json)
        app.router.add_get("/", self._status_html)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        # ``?name[]=a&name[]=b`` exposes only those series, as prometheus_client's own
        # handlers do (a Prometheus scrape job can pass it in ``params``).
        # The format is negotiated from the Accept header (prometheus_client's choose_encoder):
        # OpenMetrics for a Prometheus that asks for it, the text format 0.0.4 otherwise.
        names = request.query.getall("name[]", [])
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(self.registry.restricted_registry(names) if names else self.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        problems = self.health.problems()
        body = {"status": "ok" if not problems else "unhealthy", "problems": problems}
        return web.json_response(body, status=200 if not problems else 503)

    async def _readyz(self, request: web.Request) -> web.Response:
        ok = self.health.ready
        return web.json_response({"ready": ok}, status=200 if ok else 503)

    async def _status_json(self, request: web.Request) -> web.Response:
        return web.json_response(self.status(), dumps=lambda o: json.dumps(o, default=str))

    async def _status_html(self, request: web.Request) -> web.Response:
        page = render_status(self.status(), ready=self.health.ready, problems=self.health.problems())
        return web.Response(text=page, content_type="text/html")




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
