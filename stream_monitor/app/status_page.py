"""The worker's built-in HTML status page (``/status``), for users without Grafana.

One self-contained page (inline CSS, no script, no external resource): the
worker's readiness and health problems, every model version's drift state, the
most recent retrain requests, and the per-feature drift of each version's last
closed window. Every value from the status view or from configuration is
HTML-escaped; model ids and versions are also cut to 64 printable characters.
Numbers are shown with four significant digits.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

__all__ = ["render_status"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}th{background:#f0f0f3;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px}
.ok{background:#d3f5d3;color:#135d13}.warning{background:#ffe9b3;color:#7a5200}
.drift,.critical{background:#ffd0d0;color:#8a1010}.learning{background:#dde8ff;color:#1b3d8a}
tr.fired td,tr[data-state=drift] td{background:#fff3f3}.muted{color:#777}code{font-size:12px}
ul.problems{color:#8a1010;margin:4px 0}footer{margin-top:24px;font-size:12px;color:#777}
"""


def _num(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float) and not math.isfinite(value):
        return html.escape(str(value))
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return html.escape(str(value))


def _name(value: Any) -> str:
    """A model id or version: escaped, and at most 64 characters with control
    characters dropped. The monitor admits only well-formed versions; this keeps the
    page safe for whatever a snapshot from an older release holds."""
    text = "".join(ch for ch in str(value) if ch.isprintable())
    if len(text) > 64:
        text = text[:63] + "\u2026"
    return html.escape(text)


def _badge(state: str) -> str:
    cls = state if state in {"ok", "warning", "drift", "critical", "learning"} else ""
    return f"<span class='badge {cls}'>{html.escape(state)}</span>"


def _worker(ready: bool | None, problems: Sequence[str]) -> str:
    if ready is None and not problems:
        return ""
    state = "ok" if ready and not problems else ("drift" if problems else "warning")
    text = "ready" if ready else "not ready"
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return f"<p>Worker: {_badge(text).replace('badge ', f'badge {state} ', 1)}</p>" + (
        f"<ul class='problems'>{items}</ul>" if items else ""
    )


def _models(models: Iterable[dict[str, Any]]) -> str:
    esc = html.escape
    rows = []
    for m in models:
        state = _badge(m["state"]) + (" " + _badge("learning") if m.get("learning") else "")
        drifted = ", ".join(m.get("drifted") or []) or "<span class='muted'>none</span>"
        if m.get("drifted"):
            drifted = esc(drifted)
        rows.append(
            f"<tr class='model' data-state='{esc(m['state'])}'><td>{_name(m['model'])}</td>"
            f"<td>{_name(m['version'])}</td>"
            f"<td class='state'>{state}</td><td class='num'>{m.get('streak', 0)}</td>"
            f"<td class='num'>{_num(m.get('window_events'))}</td>"
            f"<td class='num'>{_num(m.get('last_window_events'))}</td>"
            f"<td class='drifted'>{drifted}</td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan='7' class='muted'>no events yet</td></tr>"
    return ("<table id='models'><tr><th>model</th><th>version</th><th>state</th><th>streak</th>"
            f"<th>open window</th><th>last window</th><th>drifted features</th></tr>{body}</table>")


def _features(features: list[dict[str, Any]]) -> str:
    esc = html.escape
    if not features:
        return "<p class='muted'>no window closed yet</p>"
    out = []
    for (model, version), group in groupby(features, key=lambda f: (f["model"], f.get("version", ""))):
        rows = "".join(
            f"<tr class='{'fired' if f['drift'] else ''}'><td>{esc(f['feature'])}</td><td>{esc(f['detector'])}</td>"
            f"<td class='num'>{_num(f['value'])}</td><td class='num'>{_num(f['threshold'])}</td>"
            f"<td class='num'>{_num(f.get('p_value'))}</td>"
            f"<td>{_badge('drift') if f['drift'] else _badge('ok')}</td></tr>"
            for f in group
        )
        out.append(f"<h3>{_name(model)} / {_name(version)}</h3><table class='features'><tr><th>feature</th>"
                   f"<th>detector</th><th>statistic</th><th>threshold</th><th>p-value</th><th>decision</th></tr>"
                   f"{rows}</table>")
    return "".join(out)


def _requests(requests: Iterable[dict[str, Any]]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td><code>{esc(r['request_id'])}</code></td><td>{_name(r['model_id'])}</td>"
        f"<td>{_name(r['model_version'])}</td><td>{_badge(r['severity'])}</td>"
        f"<td>{esc(', '.join(r.get('features', [])))}</td></tr>"
        for r in requests
    )
    if not rows:
        return "<p class='muted'>none since the worker started</p>"
    return ("<table id='requests'><tr><th>request id</th><th>model</th><th>version</th><th>severity</th>"
            f"<th>features</th></tr>{rows}</table>")


def render_status(status: dict[str, Any], *, ready: bool | None = None, problems: Sequence[str] = ()) -> str:
    """Render the status view of :meth:`stream_monitor.app.runtime.Runtime.status` as HTML.

    Parameters
    ----------
    status
        ``{"models": [...], "features": [...], "requests": [...]}``.
    ready, problems
        The worker's readiness and health problems (omitted when None / empty).
    """
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="refresh" content="15">
<title>stream-monitor status</title><style>{_CSS}</style></head><body>
<h1>stream-monitor</h1>{_worker(ready, problems)}
<h2>Models</h2>{_models(status.get("models", []))}
<h2>Recent retrain requests</h2>{_requests(status.get("requests", []))}
<h2>Per-feature drift (last closed window)</h2>{_features(list(status.get("features", [])))}
<footer>Refreshes every 15 s. Machine-readable: <a href="status.json">status.json</a>,
<a href="metrics">metrics</a>, <a href="healthz">healthz</a>.</footer>
</body></html>"""
