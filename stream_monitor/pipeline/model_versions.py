"""The versions half of :class:`~stream_monitor.pipeline.model_monitor.ModelMonitor`: lifecycle and persistence.

Each model version runs against its own reference: the one configured for that
version (``version_references``), else the model's static reference, else one
learned from the version's first events (:meth:`ModelVersions._learn`). At most
``max_versions`` versions are live; the least recently seen one is retired
(state and metric series dropped) when a new one arrives. :meth:`~ModelVersions.to_state`
and :meth:`~ModelVersions.load_state` save and restore every version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from stream_monitor.detectors.cusum import CusumBank
from stream_monitor.events.models import PredictionEvent
from stream_monitor.pipeline.feature_join import FeatureJoin
from stream_monitor.pipeline.state import ModelMonitorState, VersionSnapshot
from stream_monitor.pipeline.version_state import VersionState, WindowEvent
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.persist import assign, capture, revived
from stream_monitor.windows.profile import ReferenceProfile, build_profile
from stream_monitor.windows.window import Window

__all__ = ["ModelVersions", "_check_seasonal"]

_PRED_COLUMN = "__prediction__"
# What a started version's layouts shape (see ModelVersions._fit), or what its reference decides.
_FITTED = ("reference", "learning", "window", "healthy", "cusum", "segments", "phases")


def _check_seasonal(spec: ModelSpec, reference: ReferenceProfile | None) -> None:
    """Refuse (at start-up) a reference that cannot serve the configured seasonality."""
    season, got = spec.seasonality, reference.seasonal if reference is not None else None
    if season is None or reference is None:
        return
    if got is None:
        raise ValueError(f"model {spec.model_id!r} configures seasonality but its reference {reference.source!r} "
                         "has no per-phase profile (build it with seasonality configured)")
    if (got.period_seconds, got.buckets, got.offset_seconds) != (season.period, season.buckets, season.offset):
        raise ValueError(f"model {spec.model_id!r}: the reference was profiled with another seasonality "
                         f"(period {got.period_seconds:g} s, {got.buckets} buckets); build it again")


class ModelVersions:
    """The versions half of :class:`~stream_monitor.pipeline.model_monitor.ModelMonitor`: a base class; the
    monitor sets the state declared here."""

    spec: ModelSpec
    reference: ReferenceProfile | None
    version_references: dict[str, ReferenceProfile]
    params_hash: str
    versions: dict[str, VersionState]  # least recently seen first
    join: FeatureJoin | None

    def _reference_for(self, version: str) -> ReferenceProfile | None:
        return self.version_references.get(version, self.reference)

    def _version(self, version: str, retired: list[str], first_ts: float) -> VersionState:
        state = self.versions.pop(version, None)
        if state is None:
            while len(self.versions) >= self.spec.max_versions:
                oldest = next(iter(self.versions))
                del self.versions[oldest]
                retired.append(oldest)
                if self.join is not None:
                    self.join.drop_version(oldest)
            ref = self._reference_for(version)
            state = VersionState(version, None, learned=ref is None, incarnation=repr(float(first_ts)))
            if ref is not None:
                state.start(self.spec, ref)
            else:
                state.learning = []
        self.versions[version] = state
        return state

    def _learn(self, state: VersionState, events: Sequence[WindowEvent]) -> Sequence[WindowEvent]:
        assert state.learning is not None and self.spec.reference.learn_first_n is not None
        need = self.spec.reference.learn_first_n - len(state.learning)
        taken = 0
        for e in events:
            if taken >= need:
                break
            row: dict[str, Any] = dict(e.features or {})
            if isinstance(e, PredictionEvent):
                row[_PRED_COLUMN] = (e.score if (e.score is not None and self.spec.prediction.type == "score")
                                     else e.prediction)
                taken += 1
            state.learning.append(row)
        if taken >= need:
            profile = build_profile(
                self.spec,
                state.learning,
                source=f"learned from the first {self.spec.reference.learn_first_n} events",
                prediction_column=(_PRED_COLUMN,),
            )
            state.start(self.spec, profile)
        consumed = 0
        counted = 0
        for e in events:  # skip exactly the events used for learning
            if counted >= need:
                break
            consumed += 1
            counted += isinstance(e, PredictionEvent)
        return events[consumed:]

    # -- persistence -----------------------------------------------------------------

    def to_state(self) -> ModelMonitorState:
        return capture(ModelMonitorState, self)

    def load_state(self, data: ModelMonitorState) -> bool:
        """Restore from :meth:`to_state`. Returns ``False`` (and keeps a fresh state)
        when the parameters that shaped the state have changed."""
        if data.params != self.params_hash:
            return False
        self.versions = {v: self._restored(v, d) for v, d in data.versions.items()}
        if self.join is not None and data.feature_join is not None:
            self.join.load_state(data.feature_join)
        return True

    def _restored(self, version: str, d: VersionSnapshot) -> VersionState:
        """The version ``d`` describes, started from its configured reference (else the learned
        one): configuration builds its layouts and detectors, the state fills them."""
        configured = self._reference_for(version)
        s = VersionState(version, None, learned=configured is None)
        ref = configured if configured is not None else d.reference
        if ref is not None:
            s.start(self.spec, ref)
        assign(s, d, skip=_FITTED)
        if ref is None:
            s.learning = revived(d.learning or [])
        else:
            self._fit(s, d)
        return s

    def _fit(self, s: VersionState, d: VersionSnapshot) -> None:
        """The parts of a started version that its layouts shape: the open and healthy windows,
        the CUSUM bank, the segment windows and the phase counts. A bank, segments or phase
        counts that do not fit the configured layout start fresh."""
        assert s.layout is not None and s.window is not None
        if d.window is not None:
            s.window = Window.from_state(d.window, s.layout)
        s.healthy = [Window.from_state(h, s.layout) for h in d.healthy]
        if s.cusum_layout is not None and d.cusum is not None:
            head = self.spec.detectors.sequential.head_start
            s.cusum = CusumBank.from_state(d.cusum, s.cusum_layout, head) or s.cusum
        if s.segments is not None and not s.segments.load_state(d.segments):
            s.segments.reset(s.window.index)
        if s.phases is not None and d.phases is not None and len(d.phases) == s.phases.size:
            s.phases = np.asarray(d.phases, dtype=np.int64)
