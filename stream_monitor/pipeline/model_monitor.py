"""ModelMonitor: windows, detectors and decisions for every version of one model.

Each model version has its own window, policy state, streaming detectors and
reference: the one configured for that version (``version_references``), else
the model's static reference, else one learned from the version's first events.
At most ``max_versions`` versions are live; the least recently seen one is
retired (state and metric series dropped) when a new one arrives. Optionally a
rolling reference (the last N healthy windows) is kept beside the static one.
With ``segments`` each version also keeps one window per configured segment
(:mod:`stream_monitor.windows.segments`); with ``feature_join`` feature events
join their prediction by ``event_id`` before reaching the windows
(:mod:`stream_monitor.pipeline.feature_join`). With ``seasonality`` each window
counts its events per phase bucket, and every detector compares it with the
reference mixed to that phase composition (:mod:`stream_monitor.pipeline.seasonal`,
:mod:`stream_monitor.detectors.seasonal_cusum`). Pure: no clock, no I/O.

This module routes events to versions (joining features first, with
``feature_join``); each version's state is a
:class:`~stream_monitor.pipeline.version_state.VersionState`, and the
monitor's two base classes hold the rest: version lifecycle, reference
learning and persistence in :mod:`stream_monitor.pipeline.model_versions`,
feeding and closing windows in :mod:`stream_monitor.pipeline.model_windows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.pipeline.feature_join import FeatureJoin, JoinCounts
from stream_monitor.pipeline.model_versions import ModelVersions, _check_seasonal
from stream_monitor.pipeline.model_windows import ModelWindows
from stream_monitor.pipeline.version_state import Groups, VersionState, WindowEvent
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.profile import ReferenceProfile
from stream_monitor.windows.segments import segment_groups

__all__ = ["ModelMonitor", "ModelOutcome"]


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    reports: tuple[WindowReport, ...] = ()
    requests: tuple[RetrainRequest, ...] = ()
    retired: tuple[str, ...] = ()
    feature_join: JoinCounts | None = None  # with ``feature_join`` configured
    # Where the inputs' drift state changed: (index of the event in the batch that closed the
    # window, version, whether its inputs are in warning or drift after it). The label path
    # reads it per event, so that how a batch is cut never changes what it sees.
    marks: tuple[tuple[int, str, bool], ...] = ()


class ModelMonitor(ModelVersions, ModelWindows):
    """Runs windows -> detectors -> decisions for one model.

    Parameters
    ----------
    spec
        The model's configuration.
    reference
        The static reference profile, or ``None`` to learn one per version from
        its first ``spec.reference.learn_first_n`` events.
    """

    def __init__(
        self,
        spec: ModelSpec,
        reference: ReferenceProfile | None,
        version_references: Mapping[str, ReferenceProfile] | None = None,
    ) -> None:
        if reference is None and spec.reference.learn_first_n is None:
            raise ValueError(f"model {spec.model_id!r} has no reference and does not learn one")
        for ref in (reference, *(version_references or {}).values()):
            _check_seasonal(spec, ref)
        self.spec = spec
        self.reference = reference
        self.version_references = dict(version_references or {})
        self.params_hash = spec.params_hash() + (reference.fingerprint() if reference else "") + "".join(
            f"/{v}={r.fingerprint()}" for v, r in sorted(self.version_references.items())
        )
        self.versions: dict[str, VersionState] = {}  # least recently seen first
        fj = spec.feature_join
        self.join = FeatureJoin(ttl_seconds=fj.ttl_seconds, max_pending=fj.max_pending) if fj is not None else None

    def observe(self, events: Sequence[WindowEvent], columns: Mapping[str, Sequence[Any]] | None = None
                ) -> ModelOutcome:
        """Add events of this model (any versions, in arrival order); ``columns``, when given, are
        their feature columns (each name's value per event, ``None`` where absent)."""
        routed, groups, positions = self._route(events)
        by_version: dict[str, tuple[list[WindowEvent], list[Groups], list[int]]] = {}
        versions = {e.model_version for e in routed}
        if self.join is not None:
            columns = None  # the windows see joined events, not these
        if len(versions) == 1:  # the common case: one version, the events as they are
            by_version[versions.pop()] = (list(routed), list(groups), list(positions))
        else:
            columns = None
            for e, g, at in zip(routed, groups, positions, strict=True):
                evs, gs, ps = by_version.setdefault(e.model_version, ([], [], []))
                evs.append(e)
                gs.append(g)
                ps.append(at)
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        retired: list[str] = []
        marks: list[tuple[int, str, bool]] = []
        for version, (evs, gs, ps) in by_version.items():
            state = self._version(version, retired, evs[0].timestamp)
            rest: Sequence[WindowEvent] = evs
            if state.learning is not None:
                rest = self._learn(state, evs)
            if rest:
                skip = len(evs) - len(rest)
                given = {n: c[skip:] for n, c in columns.items()} if columns is not None and skip else columns
                self._windows(state, rest, gs[skip:], reports, requests, (ps[skip:], marks), given)
        counts = None
        if self.join is not None:
            expired, orphaned, duplicates, joined = self.join.drain()
            counts = JoinCounts(expired, orphaned, duplicates, joined)
        return ModelOutcome(tuple(reports), tuple(requests), tuple(retired), counts, tuple(sorted(marks)))

    def _route(self, events: Sequence[WindowEvent]) -> tuple[Sequence[WindowEvent], list[Groups], list[int]]:
        """The events the windows see, with their segment groups and the index in ``events`` of
        the event that let each through.

        Without the feature join that is every event; predictions carry their
        groups, feature events none. With it, feature events reach the windows
        only once joined to their prediction (the first of the two to come
        waits), with the prediction's groups.
        """
        segs = self.spec.segments
        if self.join is None:
            if not segs:
                return events, [None] * len(events), list(range(len(events)))
            return events, [segment_groups(e.attributes, segs) if isinstance(e, PredictionEvent) else None
                            for e in events], list(range(len(events)))
        out: list[WindowEvent] = []
        groups: list[Groups] = []
        for e in events:
            if isinstance(e, PredictionEvent):
                g = segment_groups(e.attributes, segs)
                out.append(e)
                groups.append(g)
                if e.features:
                    self.join.advance(e.timestamp)  # complete already; its time still moves the watermark
                else:
                    got = self.join.add_prediction(e.event_id, e.model_version, e.timestamp, list(g))
                    if got is not None:
                        out.append(FeatureEvent.model_construct(
                            event_id=e.event_id, model_id=e.model_id, model_version=e.model_version,
                            timestamp=got[0], features=got[1]))
                        groups.append(g)
            else:
                joined = self.join.add_features(e.event_id, e.model_version, e.timestamp, e.features)
                if joined is not None:
                    out.append(e)
                    groups.append(tuple(joined))
        return out, groups, _positions(events, out)


def _positions(events: Sequence[WindowEvent], out: Sequence[WindowEvent]) -> list[int]:
    """For each routed event, the index in ``events`` of the arrival that let it through: the
    event itself, or for a joined feature event built on arrival of its prediction, the
    prediction (the routed list keeps arrival order)."""
    index = {id(e): i for i, e in enumerate(events)}
    positions: list[int] = []
    last = 0
    for e in out:
        last = index.get(id(e), last)  # built on its prediction's arrival: that prediction's index
        positions.append(last)
    return positions
