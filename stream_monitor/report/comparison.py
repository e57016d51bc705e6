"""The HTML report of a comparison (:meth:`stream_monitor.api.Comparison.to_html`), and the value it draws.

One self-contained page: the decision, every reading, reference vs current
distribution per feature (bars on the reference's bins), each detector's
statistic per window against its threshold, and the retrain requests the
stream would publish, with their event times.

The value drawn, a :class:`Distribution`, is one feature's counts on the
reference's bins, reference against current. The status view draws it too and
the Python API returns it (:class:`~stream_monitor.api.result.Comparison`); it
lives in the report, below the API.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.report.page import CSS, Point, badge, bars, iso, line, name, num, plotted

if TYPE_CHECKING:
    from stream_monitor.api.result import Comparison

__all__ = ["Distribution", "readings_table", "render_comparison", "requests_table", "statistic_charts"]


@dataclass(frozen=True, slots=True)
class Distribution:
    """One feature's counts on the reference's bins: reference and current.

    Numeric: ``edges`` are the inner bin edges (``len(edges) + 1`` bins).
    Categorical: ``categories`` and a last bin for every other category.
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    reference_missing: int
    current_missing: int

    def labels(self) -> tuple[str, ...]:
        """A short label per bin."""
        if self.kind == "categorical":
            return (*self.categories, "other")
        e = self.edges
        if not e:
            return ("all",)
        inner = tuple(f"{a:.3g}..{b:.3g}" for a, b in zip(e, e[1:], strict=False))
        return (f"<{e[0]:.3g}", *inner, f">={e[-1]:.3g}")

    def to_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "kind": self.kind, "bins": list(self.labels()),
                "reference": list(self.reference), "current": list(self.current),
                "reference_missing": self.reference_missing, "current_missing": self.current_missing}


def readings_table(windows: Sequence[WindowReport]) -> str:
    rows = "".join(
        f"<tr class='{'fired' if r.drift else ''}'><td class='num'>{w.window.index}</td>"
        f"<td>{name(r.feature)}</td><td>{name(r.detector)}</td>"
        f"<td class='num'>{num(r.value)}</td><td class='num'>{num(r.threshold)}</td><td class='num'>"
        f"{num(r.p_value)}</td><td class='num'>{r.n}</td><td>{badge('drift' if r.drift else 'ok')}</td></tr>"
        for w in windows for r in w.readings
    )
    return ("<table class='readings'><tr><th>window</th><th>feature</th><th>detector</th><th>statistic</th>"
            f"<th>threshold</th><th>p-value</th><th>n</th><th>decision</th></tr>{rows}</table>")


def requests_table(requests: Sequence[RetrainRequest]) -> str:
    if not requests:
        return "<p class='muted'>no retrain request</p>"
    rows = "".join(
        f"<tr><td><code>{html.escape(r.request_id)}</code></td><td>{iso(r.created_at)}</td>"
        f"<td>{badge(r.severity)}</td><td>{html.escape(', '.join(r.features))}</td>"
        f"<td>{html.escape(r.supersedes or '')}</td></tr>"
        for r in requests
    )
    return ("<table class='requests'><tr><th>request id</th><th>event time (UTC)</th><th>severity</th>"
            f"<th>features</th><th>supersedes</th></tr>{rows}</table>")


def statistic_charts(windows: Sequence[WindowReport]) -> str:
    """One chart per (feature, detector): its statistic (p-value tests: ``-log10 p``) in each
    window, with the last threshold."""
    series: dict[tuple[str, str], list[tuple[Point, float, str]]] = {}
    for w in windows:
        for r in w.readings:
            if r.reference != "static":
                continue
            value, threshold, unit = plotted(r.value, r.threshold, r.p_value)
            point = Point(value, f"w{w.window.index}", r.drift, f"({iso(w.window.end)})")
            series.setdefault((r.feature, r.detector), []).append((point, threshold, unit))
    charts = [line(f"{feature} / {detector} ({pts[-1][2]})", [p for p, _, _ in pts], pts[-1][1],
                   series=f"{feature}/{detector}")
              for (feature, detector), pts in series.items()]
    return f"<div class='charts'>{''.join(charts)}</div>" if charts else "<p class='muted'>no window closed</p>"


def render_comparison(c: Comparison) -> str:
    state = c.state.value
    drifted = html.escape(", ".join(c.drifted_features)) or "<span class='muted'>none</span>"
    hist = "".join(bars(d.feature, d.labels(), d.reference, d.current, feature=d.feature) for d in c.distributions)
    notes = "".join(f"<li>column {name(col)} not monitored: {html.escape(why)}</li>" for col, why in c.skipped)
    notes += (f"<li>{len(c.rejected)} current rows refused (first: row {c.rejected[0].row}, "
              f"{html.escape(c.rejected[0].reason)})</li>" if c.rejected else "")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>stream-monitor report: {name(c.model_id)}</title><style>{CSS}</style></head><body>
<h1>Drift report: {name(c.model_id)}</h1>
<p id='summary' data-state='{html.escape(state)}'>State {badge(state)} &middot; reference {c.reference_rows} rows,
current {c.current_rows} rows &middot; drifted: <span class='drifted'>{drifted}</span></p>
{f"<ul class='problems'>{notes}</ul>" if notes else ""}
<h2>Distributions: reference vs current</h2><div class='charts' id='distributions'>{hist}</div>
<h2>Statistics per window</h2><div id='statistics'>{statistic_charts(c.windows)}</div>
<h2>Readings</h2>{readings_table(c.windows)}
<h2>Retrain requests</h2>{requests_table(c.requests)}
<footer>stream-monitor report: the detectors and decision policy of the stream, on one batch.</footer>
</body></html>"""
