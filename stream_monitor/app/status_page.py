"""The worker's built-in HTML status page (``/status``), for users without Grafana.

One self-contained page (inline CSS, no script, no external resource): the
worker's readiness and health problems, every model version's drift state, the
most recent retrain requests with their times, the per-feature drift of each
version's last closed window, and plots drawn as inline SVG
(:mod:`stream_monitor.report.page`): reference vs current distribution of every
feature, and each detector's statistic per window against its threshold. Every
value from the status view or from configuration is HTML-escaped; model ids and
versions are also cut to 64 printable characters.
Numbers are shown with four significant digits.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any

from stream_monitor.report.page import CSS as _CSS
from stream_monitor.report.page import Point, bars, line, plotted
from stream_monitor.report.page import badge as _badge
from stream_monitor.report.page import iso as _iso
from stream_monitor.report.page import name as _name
from stream_monitor.report.page import num as _num

__all__ = ["render_status"]


def _worker(ready: bool | None, problems: Sequence[str]) -> str:
    if ready is None and not problems:
        return ""
    state = "ok" if ready and not problems else ("drift" if problems else "warning")
    text = "ready" if ready else "not ready"
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    return f"<p>Worker: {_badge(text).replace('badge ', f'badge {state} ', 1)}</p>" + (
        f"<ul class='problems'>{items}</ul>" if items else ""
    )


def _recent(m: Mapping[str, Any]) -> str:
    """How many of the policy's last n windows drifted (the k of n behind the state)."""
    if "drifting_windows" not in m:
        return str(int(m.get("streak", 0)))
    return f"{int(m['drifting_windows'])} of {int(m.get('of_windows') or 0)}"


def _models(models: Iterable[dict[str, Any]]) -> str:
    esc = html.escape
    rows = []
    for m in models:
        state = _badge(m["state"]) + (" " + _badge("learning") if m.get("learning") else "")
        if m.get("clearing"):
            state += " <span class='muted'>clearing</span>"
        drifted = ", ".join(m.get("drifted") or []) or "<span class='muted'>none</span>"
        if m.get("drifted"):
            drifted = esc(drifted)
        rows.append(
            f"<tr class='model' data-state='{esc(m['state'])}'><td>{_name(m['model'])}</td>"
            f"<td>{_name(m['version'])}</td>"
            f"<td class='state'>{state}</td><td class='num recent'>{_recent(m)}</td>"
            f"<td class='num'>{_num(m.get('window_events'))}</td>"
            f"<td class='num'>{_num(m.get('last_window_events'))}</td>"
            f"<td class='drifted'>{drifted}</td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan='7' class='muted'>no events yet</td></tr>"
    return ("<table id='models'><tr><th>model</th><th>version</th><th>state</th><th>drifting windows</th>"
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
        f"<td>{esc(', '.join(r.get('features', [])))}</td><td>{_iso(r.get('created_at'))}</td>"
        f"<td>{_iso(r.get('published_at'))}</td></tr>"
        for r in requests
    )
    if not rows:
        return "<p class='muted'>none since the worker started</p>"
    return ("<table id='requests'><tr><th>request id</th><th>model</th><th>version</th><th>severity</th>"
            f"<th>features</th><th>event time (UTC)</th><th>published (UTC)</th></tr>{rows}</table>")


def _series_chart(s: Mapping[str, Any]) -> str:
    """One detector on one feature over its recent windows (p-value tests as -log10 p vs -log10 alpha)."""
    points, threshold, unit = [], None, "statistic"
    for p in s["points"]:
        value, threshold, unit = plotted(float(p["value"]), float(p["threshold"]), p.get("p_value"))
        points.append(Point(value, f"w{int(p['window'])}", bool(p["drift"]), f"({_iso(p.get('end'))})"))
    return line(f"{s['feature']} / {s['detector']} ({unit})", points, threshold,
                series=f"{s['feature']}/{s['detector']}")


def _plots(models: Iterable[Mapping[str, Any]]) -> str:
    """Per model version: distributions (reference vs current window) and statistics per window."""
    out = []
    for m in models:
        dists = m.get("distributions") or []
        series = m.get("series") or []
        if not dists and not series:
            continue
        hist = "".join(bars(d["feature"], d["bins"], d["reference"], d["current"], feature=d["feature"])
                       for d in dists)
        lines = "".join(_series_chart(s) for s in series)
        out.append(
            f"<section class='plots' data-model='{_name(m['model'])}' data-version='{_name(m['version'])}'>"
            f"<h3>{_name(m['model'])} / {_name(m['version'])}</h3>"
            f"<p class='muted'>Reference vs current window ({int(m.get('distribution_events') or 0)} events)</p>"
            f"<div class='charts distributions'>{hist}</div>"
            f"<p class='muted'>Statistic per closed window; dashed: threshold; red points fired</p>"
            f"<div class='charts statistics'>{lines}</div></section>")
    return "".join(out) or "<p class='muted'>nothing to plot yet</p>"


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
<h2>Plots</h2>{_plots(status.get("models", []))}
<footer>Refreshes every 15 s. Machine-readable: <a href="status.json">status.json</a>,
<a href="metrics">metrics</a>, <a href="healthz">healthz</a>.</footer>
</body></html>"""
