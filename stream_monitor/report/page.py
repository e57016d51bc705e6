"""Shared pieces of the HTML pages: escaping, numbers, times, badges, the stylesheet, and
small server-side SVG charts (grouped bars, and a line with its threshold).

No script, no external resource: the charts are plain inline ``<svg>`` that
work offline and in any browser. Every text is HTML-escaped; every number is
finite (a non-finite value is drawn at the axis and marked ``data-finite=false``).
Elements carry classes and ``data-*`` attributes (``bar ref``/``bar cur`` with
``data-bin`` and ``data-share``, ``point`` with ``data-value``, ``threshold``
with ``data-value``) so that tests can read a plot from the DOM.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["CHART_CSS", "CSS", "Point", "badge", "bars", "iso", "line", "name", "num", "plotted"]


CHART_CSS = (
    ".chart{background:#fff;box-shadow:0 1px 2px #0002;margin:4px 8px 4px 0}.chart .ct{font-size:12px;font-weight:600}"
    ".bar.ref{fill:#a4a9b0}.bar.cur{fill:#2f6fde}.axis{stroke:#999}.tick,.legend{font-size:10px;fill:#555}"
    ".legend.cur{fill:#2f6fde}line.threshold{stroke:#c0392b;stroke-dasharray:4 3}"
    "polyline.series{fill:none;stroke:#2f6fde}circle.point{fill:#2f6fde}circle.point.fired{fill:#c0392b}"
    ".charts{display:flex;flex-wrap:wrap}"
)

_W, _H = 360, 170
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 22, 34


@dataclass(frozen=True, slots=True)
class Point:
    """One value of a series over time: ``label`` (e.g. the window) on the axis, ``detail`` on hover."""

    value: float
    label: str
    fired: bool = False
    detail: str = ""


def _f(x: float) -> str:
    return f"{x:.1f}"


def _num(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def _frame(kind: str, title: str, attrs: str, body: str) -> str:
    t = html.escape(title)
    return (f"<svg class='chart {kind}' {attrs} role='img' aria-label='{t}' viewBox='0 0 {_W} {_H}' "
            f"width='{_W}' height='{_H}' xmlns='http://www.w3.org/2000/svg'>"
            f"<title>{t}</title><text x='{_LEFT}' y='14' class='ct'>{t}</text>{body}</svg>")


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def bars(title: str, labels: Sequence[str], reference: Sequence[int], current: Sequence[int],
         *, feature: str = "") -> str:
    """Reference and current shares per bin, side by side (grey: reference, blue: current)."""
    ref, cur = _shares(reference), _shares(current)
    top = max([*ref, *cur, 1e-9])
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    n = max(len(labels), 1)
    slot = plot_w / n
    bar = max(slot * 0.4, 0.5)
    parts = [f"<line class='axis' x1='{_LEFT}' y1='{_TOP + plot_h}' x2='{_W - _RIGHT}' y2='{_TOP + plot_h}'/>",
             f"<text x='{_LEFT - 4}' y='{_TOP + 4}' class='tick' text-anchor='end'>{top:.0%}</text>"]
    for i, label in enumerate(labels):
        x0 = _LEFT + i * slot + slot * 0.1
        esc = html.escape(label)
        for cls, share, dx in (("ref", ref[i], 0.0), ("cur", cur[i], bar)):
            h = plot_h * share / top
            parts.append(f"<rect class='bar {cls}' data-bin='{esc}' data-share='{share:.4f}' x='{_f(x0 + dx)}' "
                         f"y='{_f(_TOP + plot_h - h)}' width='{_f(bar)}' height='{_f(h)}'>"
                         f"<title>{esc}: {'reference' if cls == 'ref' else 'current'} {share:.1%}</title></rect>")
        if n <= 12 or i in (0, n - 1):
            parts.append(f"<text class='tick' x='{_f(x0 + bar)}' y='{_H - _BOTTOM + 12}' text-anchor='middle'>"
                         f"{html.escape(label[:10])}</text>")
    parts.append(f"<text class='legend' x='{_LEFT}' y='{_H - 4}'>&#9632; reference</text>"
                 f"<text class='legend cur' x='{_LEFT + 90}' y='{_H - 4}'>&#9632; current</text>")
    return _frame("hist", title, f"data-feature='{html.escape(feature)}'", "".join(parts))


def line(title: str, points: Sequence[Point], threshold: float | None, *, series: str = "") -> str:
    """A statistic over time (one point per window) with its threshold as a dashed line."""
    finite = [p.value for p in points if math.isfinite(p.value)]
    limits = [*finite, *([threshold] if threshold is not None and math.isfinite(threshold) else [])]
    lo, hi = min([0.0, *limits]), max([*limits, 1e-9])
    hi = hi + (hi - lo) * 0.1
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def y(v: float) -> float:
        v = v if math.isfinite(v) else lo
        return _TOP + plot_h - plot_h * (v - lo) / (hi - lo)

    step = plot_w / max(len(points) - 1, 1)
    xs = [_LEFT + (i * step if len(points) > 1 else plot_w / 2) for i in range(len(points))]
    parts = [f"<line class='axis' x1='{_LEFT}' y1='{_TOP + plot_h}' x2='{_W - _RIGHT}' y2='{_TOP + plot_h}'/>",
             f"<text x='{_LEFT - 4}' y='{_TOP + 4}' class='tick' text-anchor='end'>{_num(hi)}</text>",
             f"<text x='{_LEFT - 4}' y='{_TOP + plot_h}' class='tick' text-anchor='end'>{_num(lo)}</text>"]
    if threshold is not None and math.isfinite(threshold):
        ty = y(threshold)
        parts.append(f"<line class='threshold' data-value='{threshold:.6g}' x1='{_LEFT}' y1='{_f(ty)}' "
                     f"x2='{_W - _RIGHT}' y2='{_f(ty)}'><title>threshold {_num(threshold)}</title></line>")
    if len(points) > 1:
        coords = " ".join(f"{_f(x)},{_f(y(p.value))}" for x, p in zip(xs, points, strict=True))
        parts.append(f"<polyline class='series' points='{coords}'/>")
    for x, p in zip(xs, points, strict=True):
        parts.append(f"<circle class='point{' fired' if p.fired else ''}' data-value='{p.value:.6g}' "
                     f"data-finite='{str(math.isfinite(p.value)).lower()}' cx='{_f(x)}' cy='{_f(y(p.value))}' r='3'>"
                     f"<title>{html.escape(p.label)} {html.escape(p.detail)}: {_num(p.value)}</title></circle>")
    if points:
        parts.append(f"<text class='tick' x='{_LEFT}' y='{_H - _BOTTOM + 12}'>{html.escape(points[0].label)}</text>"
                     f"<text class='tick' x='{_W - _RIGHT}' y='{_H - _BOTTOM + 12}' text-anchor='end'>"
                     f"{html.escape(points[-1].label)}</text>")
    return _frame("series", title, f"data-series='{html.escape(series)}'", "".join(parts))


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
