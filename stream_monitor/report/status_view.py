"""The status view: one frozen value per model version, from the monitors' frozen views in one place.

The status page and ``/status.json`` read these views (and the bounded
:class:`~stream_monitor.report.history.StatusHistory`), never the monitors'
internals. States are consistent by construction: next to ``state`` the view
carries how many of the policy's last ``n`` windows drifted (the k-of-n rule
that put the model in that state), so ``drift`` never stands next to nothing;
``streak`` (consecutive drifting windows) is 0 while a drift clears
(hysteresis), which the page says as "clearing".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stream_monitor.detectors.reading import Reading
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.pipeline.view import FeatureCounts, MonitorView
from stream_monitor.report.comparison import Distribution
from stream_monitor.windows.profile import NumericProfile, ReferenceProfile

__all__ = ["VersionView", "version_views", "views_of"]


@dataclass(frozen=True, slots=True)
class VersionView:
    """What the status page shows of one model version."""

    model: str
    version: str
    state: str
    streak: int
    drifting_windows: int  # of the last ``of_windows`` sufficient windows
    of_windows: int
    window_events: int
    last_window_events: int | None
    last_window_end: float | None
    drifted: tuple[str, ...]
    learning: bool
    readings: tuple[Reading, ...]  # the last closed window's
    distributions: tuple[Distribution, ...]  # reference vs the open window (empty while it is)

    @property
    def clearing(self) -> bool:
        """In drift by hysteresis: the last window was clean, too few clean ones yet to leave."""
        return self.state == "drift" and self.streak == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "version": self.version, "state": self.state, "streak": self.streak,
            "drifting_windows": self.drifting_windows, "of_windows": self.of_windows,
            "clearing": self.clearing, "window_events": self.window_events,
            "last_window_events": self.last_window_events, "last_window_end": self.last_window_end,
            "drifted": list(self.drifted), "learning": self.learning,
        }


def _distributions(reference: ReferenceProfile | None, window: Sequence[FeatureCounts]) -> tuple[Distribution, ...]:
    if reference is None:
        return ()
    out = []
    for fc in window:
        prof = reference.features.get(fc.feature)
        if isinstance(prof, NumericProfile) and fc.kind == "numeric":
            out.append(Distribution(fc.feature, "numeric", prof.edges, (), prof.counts, fc.counts, prof.missing,
                                    fc.missing))
        elif prof is not None and not isinstance(prof, NumericProfile) and fc.kind == "categorical":
            out.append(Distribution(fc.feature, "categorical", (), prof.categories, prof.bin_counts(), fc.counts,
                                    prof.missing, fc.missing))
    return tuple(out)


def views_of(view: MonitorView) -> list[VersionView]:
    """The status view of every model version in one monitor's frozen ``view``."""
    out: list[VersionView] = []
    for mm in view.models:
        for vs in mm.versions:
            rep, policy = vs.last_report, vs.policy
            out.append(VersionView(
                model=mm.model, version=vs.version, state=policy.state.value, streak=policy.streak,
                drifting_windows=policy.drifting_windows, of_windows=mm.history,
                window_events=vs.window_events,
                last_window_events=rep.window.events if rep else None,
                last_window_end=rep.window.end if rep else None,
                drifted=rep.drifted if rep else (), learning=vs.learning,
                readings=rep.readings if rep else (),
                distributions=_distributions(vs.reference, vs.open_window),
            ))
    return out


def version_views(monitors: Iterable[Monitor], models: Sequence[str] | None = None) -> list[VersionView]:
    """The view of every model version of ``monitors`` (only ``models`` if given)."""
    return [v for mon in monitors for v in views_of(mon.view(models, windows=True))]
