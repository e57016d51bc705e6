"""The sidecar's HTTP server (aiohttp on asyncio): thin wiring around the intake and the forwarder.

Routes:

``POST /v1/events``
    Our events (one, a JSON array, or a batch envelope). 200 ``{"accepted": n}``;
    400 with the problems (event index, field, reason; never a value); 413 over the
    request size limit; 429 when the buffer has no room for the whole request
    (``Retry-After: 1``); 503 while shutting down. Every refused event is counted.
``POST /`` and ``POST /v1/cloudevents``
    KServe inference logger CloudEvents (binary or structured mode): 200 when
    accepted (held for pairing, or paired and queued), 400 when refused, 429 as above.
``GET /healthz``
    200 while the sender runs and the buffer is open, else 503; JSON counters.
``GET /metrics``
    Prometheus text format.

With a bearer token configured, the POST routes need ``Authorization: Bearer <token>``
(compared in constant time); 401 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from stream_monitor.sidecar.cloudevents import CloudEvent
from stream_monitor.sidecar.contract import encode_events, parse_events
from stream_monitor.sidecar.forward import Forwarder
from stream_monitor.sidecar.kserve import Intake, KServeIntake, describe
from stream_monitor.sidecar.mapping import SidecarMapping
from stream_monitor.sidecar.metrics import SidecarCounters, register_metrics
from stream_monitor.sidecar.pairing import Pairer

__all__ = ["Sidecar", "SidecarOptions", "serve"]

log = logging.getLogger("stream_monitor.sidecar")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_STATUS_OF: Final = {"buffer_full": 429, "too_large": 413, "closed": 503}
_ENDPOINT_OF: Final = {"/v1/events": "events", "/": "kserve", "/v1/cloudevents": "kserve",
                       "/healthz": "healthz", "/metrics": "metrics"}


@dataclass(frozen=True)
class SidecarOptions:
    """Everything the sidecar is configured with (the CLI builds it)."""

    bootstrap_servers: str
    host: str = "127.0.0.1"
    port: int = 8090
    topics: tuple[tuple[str, str], ...] = (("prediction", "model-predictions"), ("feature", "model-features"),
                                           ("label", "model-labels"))
    token: str | None = None
    max_request_bytes: int = 4 * 1024 * 1024
    max_buffer_events: int = 50_000
    max_buffer_bytes: int = 64 * 1024 * 1024
    batch_size: int = 500
    linger_seconds: float = 0.02
    max_message_bytes: int = 900_000
    pair_timeout_seconds: float = 30.0
    max_pending_pairs: int = 10_000
    max_pending_bytes: int = 64 * 1024 * 1024
    close_timeout_seconds: float = 10.0


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers=headers)


class Sidecar:
    """The sidecar's state and handlers; :meth:`app` builds the aiohttp application."""

    def __init__(self, options: SidecarOptions, mapping: SidecarMapping,
                 forwarder: Forwarder | None = None) -> None:
        self.options = options
        self.forwarder = forwarder or Forwarder(
            options.bootstrap_servers, dict(options.topics), max_events=options.max_buffer_events,
            max_bytes=options.max_buffer_bytes, batch_size=options.batch_size,
            linger_seconds=options.linger_seconds, max_message_bytes=options.max_message_bytes)
        pairer: Pairer[CloudEvent] = Pairer(options.pair_timeout_seconds, options.max_pending_pairs,
                                                          options.max_pending_bytes)
        self.kserve = KServeIntake(mapping, pairer)
        self.counters = SidecarCounters()
        self.registry = CollectorRegistry(auto_describe=False)
        register_metrics(self.registry, self.forwarder.stats, self.kserve.pairing, self.counters)
        self._token = options.token.encode() if options.token else None
        self._warned: dict[str, float] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.options.max_request_bytes, middlewares=[self._count])
        app.router.add_post("/v1/events", self.post_events)
        app.router.add_post("/", self.post_cloudevents)
        app.router.add_post("/v1/cloudevents", self.post_cloudevents)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        endpoint = _ENDPOINT_OF.get(request.path, "other")
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.counters.request(endpoint, exc.status)
            raise
        self.counters.request(endpoint, response.status)
        return response

    def _authorized(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._token)

    async def _body(self, request: web.Request) -> bytes | web.Response:
        if not self._authorized(request):
            return _json(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.forwarder.refuse("too_large", 1)
            return _json(413, {"error": "too_large", "max_request_bytes": self.options.max_request_bytes})

    async def post_events(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        events, problems, n = parse_events(body)
        if problems:
            self.forwarder.refuse("invalid", n)
            self._warn("invalid", "refused events: " + "; ".join(f"{p.field}: {p.reason}" for p in problems[:3]))
            return _json(400, {"error": "invalid", "refused": n, "problems": [p.as_json() for p in problems]})
        return self._forward(events)

    def _forward(self, events: list[Any], extra: dict[str, Any] | None = None) -> web.Response:
        if not events:
            return _json(200, {"accepted": 0, **(extra or {})})
        reason = self.forwarder.submit(encode_events(events))
        if reason is None:
            return _json(200, {"accepted": len(events), **(extra or {})})
        self._warn(reason, f"refused {len(events)} events ({reason})")
        headers = {"Retry-After": "1"} if reason == "buffer_full" else None
        return _json(_STATUS_OF.get(reason, 503), {"error": reason, "refused": len(events)}, headers)

    async def post_cloudevents(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        content_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        out: Intake = self.kserve.handle(content_type, request.headers, body, time.monotonic(), time.time())
        for side in out.sides:
            self.counters.cloudevents[side] += 1
        for reason in out.reasons:
            self.counters.reject(reason)
        if out.invalid_events:
            self.forwarder.refuse("invalid", out.invalid_events)
        if out.refused:
            reasons = ", ".join(sorted(set(out.reasons)))
            self._warn("kserve:" + out.reasons[0], f"refused KServe CloudEvents ({reasons})")
            response = self._forward(out.events) if out.events else None
            if response is not None and response.status != 200:
                return response
            return _json(400, describe(out))
        return self._forward(out.events)

    async def healthz(self, request: web.Request) -> web.Response:
        stats = self.forwarder.stats()
        ok = self.forwarder.sender.thread.is_alive() and not self.forwarder.buffer.closed
        return _json(200 if ok else 503, {"status": "ok" if ok else "stopped", "pending": stats.pending,
                                          "delivered": stats.delivered, "dropped": stats.dropped,
                                          "kserve_pending": self.kserve.pairer.pending})

    async def metrics(self, request: web.Request) -> web.Response:
        self.kserve.pairer.expire(time.monotonic())
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def _warn(self, key: str, message: str) -> None:
        """At most once a minute per kind of problem; counts, field names and codes only."""
        now = time.monotonic()
        if now - self._warned.get(key, -math.inf) >= 60.0:
            self._warned[key] = now
            log.warning(message)


async def _expire_forever(sidecar: Sidecar) -> None:
    while True:
        await asyncio.sleep(1.0)
        sidecar.kserve.pairer.expire(time.monotonic())


async def serve(sidecar: Sidecar, ready: Callable[[int], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then stop taking requests and flush within the close timeout."""
    runner = web.AppRunner(sidecar.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, sidecar.options.host, sidecar.options.port)
    await site.start()
    sidecar.forwarder.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    expiry = asyncio.create_task(_expire_forever(sidecar))
    sockets = getattr(site._server, "sockets", None) or ()
    port = sockets[0].getsockname()[1] if sockets else sidecar.options.port
    log.info("sidecar listening on %s:%d", sidecar.options.host, port)
    if sidecar.options.token is None and sidecar.options.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("sidecar listens on %s without a token: anyone who reaches it can post events "
                    "(use --token-file)", sidecar.options.host)
    if ready is not None:
        ready(port)
    try:
        await stop.wait()
    finally:
        expiry.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await expiry
        await runner.cleanup()
        stats = await asyncio.to_thread(sidecar.forwarder.close, sidecar.options.close_timeout_seconds)
        log.info("sidecar stopped: received %d, delivered %d, dropped %d %s", stats.sent, stats.delivered,
                 stats.dropped, dict(stats.dropped_by))
