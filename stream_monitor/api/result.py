"""The typed result of :func:`stream_monitor.compare`.

Frozen dataclasses around the core's own values: the policy's
:class:`~stream_monitor.decisions.conclusion.WindowReport` and ``Reading``, the
:class:`~stream_monitor.decisions.request.RetrainRequest`. ``to_dict`` writes
windows in the same JSON shape as ``stream-monitor backtest``; ``to_html``
renders the report of :mod:`stream_monitor.report`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.detectors.base import DetectorState
from stream_monitor.detectors.reading import Reading
from stream_monitor.report.comparison import Distribution, render_comparison
from stream_monitor.report.window_json import report_to_json

__all__ = ["Comparison", "Distribution", "Rejected"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A current row the monitor refused (it is counted, never silently dropped)."""

    row: int
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """What :func:`~stream_monitor.compare` found.

    ``windows`` are the policy's reports (one unless the configuration sets a
    window smaller than the current rows); ``requests`` the retrain requests the
    stream would publish for them.
    """

    model_id: str
    feature_types: tuple[tuple[str, str], ...]
    windows: tuple[WindowReport, ...]
    requests: tuple[RetrainRequest, ...]
    distributions: tuple[Distribution, ...]
    skipped: tuple[tuple[str, str], ...]  # (column, reason): columns that are not monitored
    rejected: tuple[Rejected, ...]
    reference_rows: int
    current_rows: int

    @property
    def readings(self) -> tuple[Reading, ...]:
        """Every test of every window (feature, detector, statistic, threshold, p-value, drift)."""
        return tuple(r for w in self.windows for r in w.readings)

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """Features (``__prediction__`` for the model output) that drifted in any window, in order."""
        seen: dict[str, None] = {}
        for w in self.windows:
            seen.update(dict.fromkeys(w.drifted))
        return tuple(seen)

    @property
    def drift(self) -> bool:
        """Whether the model drifted (the policy's ``model_drift``) in any window."""
        return any(w.model_drift for w in self.windows)

    @property
    def state(self) -> DetectorState:
        """The policy's state after the last window (``ok`` when no window closed)."""
        return self.windows[-1].state if self.windows else DetectorState.OK

    def to_dict(self) -> dict[str, object]:
        """A JSON-able dict: windows in the shape ``stream-monitor backtest`` writes."""
        return {
            "model_id": self.model_id,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "features": [{"name": n, "type": t} for n, t in self.feature_types],
            "drift": self.drift,
            "state": self.state.value,
            "drifted_features": list(self.drifted_features),
            "windows": [report_to_json(w) for w in self.windows],
            "requests": [r.model_dump(mode="json") for r in self.requests],
            "distributions": [d.to_dict() for d in self.distributions],
            "skipped": [{"column": c, "reason": why} for c, why in self.skipped],
            "rejected": [{"row": r.row, "reason": r.reason, "message": r.message} for r in self.rejected],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def to_html(self, path: str | Path | None = None) -> str:
        """The self-contained HTML report (inline SVG, no script); written to ``path`` if given."""
        page: str = render_comparison(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page
