"""The status view: one frozen value per model version, read from the core monitors in one place.

The status page and ``/status.json`` read these views (and the bounded
:class:`~stream_monitor.report.history.StatusHistory`), never the monitors'
internals. States are consistent by construction: next to ``state`` the view
carries how many of the policy's last ``n`` windows drifted (the k-of-n rule
that put the model in that state), so ``drift`` never stands next to nothing;
``streak`` (consecutive drifting windows) is 0 while a drift clears
(hysteresis), which the page says as "clearing".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_monitor.detectors.reading import Reading
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.report.distribution import Distribution
from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator
from stream_monitor.windows.profile import NumericProfile, ReferenceProfile
from stream_monitor.windows.window import Window

__all__ = ["VersionView", "version_views"]


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


def _distributions(reference: ReferenceProfile | None, window: Window | None) -> tuple[Distribution, ...]:
    if reference is None or window is None or window.n == 0:
        return ()
    out = []
    for feature, acc in window.accumulators.items():
        prof = reference.features.get(feature)
        counts = tuple(acc.counts.tolist())
        if isinstance(prof, NumericProfile) and isinstance(acc, NumericAccumulator):
            out.append(Distribution(feature, "numeric", prof.edges, (), prof.counts, counts, prof.missing,
                                    acc.missing))
        elif prof is not None and not isinstance(prof, NumericProfile) and isinstance(acc, CategoricalAccumulator):
            out.append(Distribution(feature, "categorical", (), prof.categories, prof.bin_counts(), counts,
                                    prof.missing, acc.missing))
    return tuple(out)


def version_views(monitors: Iterable[Monitor], models: Sequence[str] | None = None) -> list[VersionView]:
    """The view of every model version of ``monitors`` (only ``models`` if given)."""
    views: list[VersionView] = []
    for mon in monitors:
        items: Mapping[str, Any] = mon.models if models is None else {
            m: mon.models[m] for m in models if m in mon.models}
        for model_id, mm in items.items():
            for version, vs in mm.versions.items():
                rep, policy = vs.last_report, vs.policy
                views.append(VersionView(
                    model=model_id, version=version, state=policy.state.value, streak=policy.streak,
                    drifting_windows=sum(policy.history), of_windows=mm.spec.retrain.history,
                    window_events=vs.window.n if vs.window is not None else 0,
                    last_window_events=rep.window.events if rep else None,
                    last_window_end=rep.window.end if rep else None,
                    drifted=rep.drifted if rep else (), learning=vs.learning is not None,
                    readings=rep.readings if rep else (),
                    distributions=_distributions(vs.reference, vs.window),
                ))
    return views
