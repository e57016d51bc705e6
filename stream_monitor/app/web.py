"""The worker's HTTP endpoints (aiohttp, on the faust event loop).

``/metrics`` (Prometheus text format), ``/healthz`` (liveness: 503 while the
event loop or the consumer is stalled), ``/readyz`` (partitions assigned and
state recovered) and ``/status`` (a small HTML page). Binds 127.0.0.1 by
default; faust's own web server (tables, router, stats) stays off.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Health", "WebServer"]


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

    def problems(self) -> list[str]:
        out = []
        if self.loop_lag_seconds > self.loop_lag_limit_seconds:
            out.append(f"event loop blocked for {self.loop_lag_seconds:.1f}s")
        idle = time.monotonic() - self.last_batch_at
        if self.lag_records > 0 and idle > self.stall_after_seconds:
            out.append(f"consumer stalled: {self.lag_records} records behind, nothing processed for {idle:.0f}s")
        if self.broker_error:
            out.append(f"broker: {self.broker_error}")
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
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

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
        return web.Response(text=render_status(self.status()), content_type="text/html")


def render_status(status: dict[str, Any]) -> str:
    """A self-contained HTML page: every model version's state and last window."""
    esc = html.escape
    rows = []
    for m in status.get("models", []):
        drifted = ", ".join(m.get("drifted", [])) or "-"
        rows.append(
            f"<tr class='{esc(m['state'])}'><td>{esc(m['model'])}</td><td>{esc(m['version'])}</td>"
            f"<td class='state'>{esc(m['state'])}</td><td>{m['window_events']}</td>"
            f"<td>{m.get('last_window_events', '-')}</td><td>{esc(drifted)}</td>"
            f"<td>{m.get('streak', 0)}</td></tr>"
        )
    reqs = "".join(
        f"<li><code>{esc(r['request_id'])}</code> {esc(r['model_id'])}/{esc(r['model_version'])} "
        f"{esc(r['severity'])}: {esc(', '.join(r['features']))}</li>"
        for r in status.get("requests", [])
    ) or "<li>none</li>"
    feature_rows = "".join(
        f"<tr><td>{esc(f['model'])}</td><td>{esc(f['feature'])}</td><td>{esc(f['detector'])}</td>"
        f"<td>{f['value']:.4g}</td><td>{f['threshold']:.4g}</td><td>{'DRIFT' if f['drift'] else 'ok'}</td></tr>"
        for f in status.get("features", [])
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>stream-monitor</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}
tr.drift td.state{{background:#f88}}tr.warning td.state{{background:#fd8}}tr.ok td.state{{background:#8d8}}</style></head>
<body><h1>stream-monitor</h1>
<h2>Models</h2><table><tr><th>model</th><th>version</th><th>state</th><th>open window</th><th>last window</th><th>drifted</th><th>streak</th></tr>
{''.join(rows) or '<tr><td colspan=7>no events yet</td></tr>'}</table>
<h2>Per-feature drift (last window)</h2><table><tr><th>model</th><th>feature</th><th>detector</th><th>statistic</th><th>threshold</th><th>decision</th></tr>
{feature_rows}</table>
<h2>Recent retrain requests</h2><ul>{reqs}</ul></body></html>"""
