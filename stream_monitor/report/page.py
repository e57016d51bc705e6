"""Shared pieces of the HTML pages: escaping, numbers, times, badges and the stylesheet."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime

from stream_monitor.report.svg import CHART_CSS

__all__ = ["CSS", "badge", "iso", "name", "num", "plotted"]

CSS = """
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
""" + CHART_CSS


def num(value: object) -> str:
    """A number with four significant digits (an en dash for None)."""
    if value is None:
        return "&ndash;"
    if isinstance(value, float) and not math.isfinite(value):
        return html.escape(str(value))
    try:
        return f"{float(value):.4g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return html.escape(str(value))


def name(value: object) -> str:
    """A model id, version or feature: printable characters only, at most 64, escaped."""
    text = "".join(ch for ch in str(value) if ch.isprintable())
    if len(text) > 64:
        text = text[:63] + "\u2026"
    return html.escape(text)


def iso(ts: object) -> str:
    """Epoch seconds as UTC ISO 8601 (to the second); an en dash when unknown."""
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
        return "&ndash;"
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return "&ndash;"


def badge(state: str) -> str:
    cls = state if state in {"ok", "warning", "drift", "critical", "learning"} else ""
    return f"<span class='badge {cls}'>{html.escape(state)}</span>"


def plotted(value: float, threshold: float, p_value: float | None) -> tuple[float, float, str]:
    """What a chart of one test plots: (value, threshold, unit).

    Distance tests: the statistic against its threshold. p-value tests decide on
    the p-value against the corrected alpha, so they plot ``-log10 p`` against
    ``-log10 alpha`` (above the line: significant).
    """
    if p_value is None:
        return value, threshold, "statistic"
    return -math.log10(max(p_value, 1e-300)), -math.log10(max(threshold, 1e-300)), "-log10 p"
