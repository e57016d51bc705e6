"""Bounded history for the status page: each detector's statistic per closed window, and
the last non-empty reference-vs-current distributions of each model version.

Memory is bounded whatever the input: at most ``points`` windows per series and
``max_series`` series (model, version, feature, detector; the least recently
updated goes first), and one set of distributions per model version (at most
``max_versions`` of them). Every name in it comes from configuration or from
the monitor's version allow-list, never from raw event values.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.report.comparison import Distribution
from stream_monitor.report.status_view import VersionView

__all__ = ["SeriesPoint", "StatusHistory", "status_payload"]

Key = tuple[str, str, str, str]  # model, version, feature, detector


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One window's value of one detector on one feature."""

    window: int
    end: float | None
    value: float
    threshold: float
    drift: bool
    p_value: float | None = None


class StatusHistory:
    """The recent statistics and distributions the status page plots."""

    def __init__(self, points: int = 48, max_series: int = 2000, max_versions: int = 200) -> None:
        if points < 1 or max_series < 1 or max_versions < 1:
            raise ValueError("points, max_series and max_versions must be positive")
        self.points = points
        self.max_series = max_series
        self.max_versions = max_versions
        self._series: OrderedDict[Key, deque[SeriesPoint]] = OrderedDict()
        self._current: OrderedDict[tuple[str, str], tuple[int, tuple[Distribution, ...]]] = OrderedDict()

    def record(self, reports: Iterable[WindowReport], views: Iterable[VersionView] = ()) -> None:
        """Add the readings of closed windows, and the views' open-window distributions."""
        for rep in reports:
            for r in rep.readings:
                if r.reference != "static":
                    continue
                key = (rep.model_id, rep.model_version, r.feature, r.detector)
                points = self._series.pop(key, None)
                if points is None:
                    points = deque(maxlen=self.points)
                    while len(self._series) >= self.max_series:
                        self._series.popitem(last=False)
                self._series[key] = points
                points.append(SeriesPoint(rep.window.index, rep.window.end, r.value, r.threshold, r.drift, r.p_value))
        for v in views:
            if v.distributions:
                key2 = (v.model, v.version)
                self._current.pop(key2, None)
                self._current[key2] = (v.window_events, v.distributions)
                while len(self._current) > self.max_versions:
                    self._current.popitem(last=False)

    def series(self, model: str, version: str) -> list[tuple[str, str, tuple[SeriesPoint, ...]]]:
        """(feature, detector, points) of one model version, in the order of its last window's readings."""
        return [(f, d, tuple(pts)) for (m, v, f, d), pts in self._series.items() if (m, v) == (model, version)]

    def distributions(self, model: str, version: str) -> tuple[int, tuple[Distribution, ...]]:
        """The last non-empty open window's events and distributions (0, () if none yet)."""
        return self._current.get((model, version), (0, ()))


def status_payload(views: Iterable[VersionView], history: StatusHistory,
                   requests: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON-able status (``/status.json``, and what the status page renders)."""
    models: list[dict[str, Any]] = []
    features: list[dict[str, Any]] = []
    for v in views:
        events, dists = history.distributions(v.model, v.version)
        if v.distributions:
            events, dists = v.window_events, v.distributions
        models.append({
            **v.to_dict(),
            "distribution_events": events,
            "distributions": [d.to_dict() for d in dists],
            "series": [{"feature": f, "detector": d, "points": [asdict(p) for p in pts]}
                       for f, d, pts in history.series(v.model, v.version)],
        })
        features.extend({"model": v.model, "version": v.version, "feature": r.feature, "detector": r.detector,
                         "value": r.value, "threshold": r.threshold, "p_value": r.p_value, "drift": r.drift}
                        for r in v.readings)
    return {"models": models, "features": features, "requests": list(requests)}
