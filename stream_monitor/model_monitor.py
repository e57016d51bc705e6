"""ModelMonitor: windows, detectors and decisions for every version of one model.

Each model version has its own window, policy state and (when the reference is
learned from the stream) its own reference. At most ``max_versions`` versions
are live; the least recently seen one is retired (state and metric series
dropped) when a new one arrives. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream_monitor.decisions.policy import PolicyState, WindowReport, decide
from stream_monitor.decisions.request import ReferenceInfo, RetrainRequest, WindowInfo
from stream_monitor.detectors.evaluate import evaluate_window
from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.modelspec import ModelSpec
from stream_monitor.windows.profile import ReferenceProfile, build_profile
from stream_monitor.windows.window import Window, WindowLayout, next_boundary

__all__ = ["ModelMonitor", "ModelOutcome", "VersionState"]

WindowEvent = PredictionEvent | FeatureEvent
_PRED_COLUMN = "__prediction__"


@dataclass(slots=True)
class VersionState:
    version: str
    reference: ReferenceProfile | None
    learned: bool
    policy: PolicyState = field(default_factory=PolicyState)
    layout: WindowLayout | None = None
    window: Window | None = None
    learning: list[dict[str, Any]] | None = None
    last_report: WindowReport | None = None  # in memory only

    def start(self, spec: ModelSpec, reference: ReferenceProfile, index: int = 0) -> None:
        self.reference = reference
        self.layout = WindowLayout.build(spec, reference)
        self.window = Window.empty(index, self.layout)
        self.learning = None

    def reference_info(self) -> ReferenceInfo:
        assert self.reference is not None
        return ReferenceInfo(
            kind="learned" if self.learned else "static",
            source=self.reference.source,
            fingerprint=self.reference.fingerprint(),
            rows=self.reference.rows,
        )


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    reports: tuple[WindowReport, ...] = ()
    requests: tuple[RetrainRequest, ...] = ()
    retired: tuple[str, ...] = ()


class ModelMonitor:
    """Runs windows -> detectors -> decisions for one model.

    Parameters
    ----------
    spec
        The model's configuration.
    reference
        The static reference profile, or ``None`` to learn one per version from
        its first ``spec.reference.learn_first_n`` events.
    """

    def __init__(self, spec: ModelSpec, reference: ReferenceProfile | None) -> None:
        if reference is None and spec.reference.learn_first_n is None:
            raise ValueError(f"model {spec.model_id!r} has no reference and does not learn one")
        self.spec = spec
        self.reference = reference
        self.params_hash = spec.params_hash() + (reference.fingerprint() if reference else "")
        self.versions: dict[str, VersionState] = {}  # least recently seen first

    def accepts_version(self, version: str) -> bool:
        return not self.spec.versions or version in self.spec.versions

    def _version(self, version: str, retired: list[str]) -> VersionState:
        state = self.versions.pop(version, None)
        if state is None:
            while len(self.versions) >= self.spec.max_versions:
                oldest = next(iter(self.versions))
                del self.versions[oldest]
                retired.append(oldest)
            state = VersionState(version, None, learned=self.reference is None)
            if self.reference is not None:
                state.start(self.spec, self.reference)
            else:
                state.learning = []
        self.versions[version] = state
        return state

    def observe(self, events: Sequence[WindowEvent]) -> ModelOutcome:
        """Add events of this model (any versions, in arrival order)."""
        by_version: dict[str, list[WindowEvent]] = {}
        for e in events:
            by_version.setdefault(e.model_version, []).append(e)
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        retired: list[str] = []
        for version, evs in by_version.items():
            state = self._version(version, retired)
            if state.learning is not None:
                evs = self._learn(state, evs)
            if evs:
                self._windows(state, evs, reports, requests)
        return ModelOutcome(tuple(reports), tuple(requests), tuple(retired))

    def _learn(self, state: VersionState, events: Sequence[WindowEvent]) -> Sequence[WindowEvent]:
        assert state.learning is not None and self.spec.reference.learn_first_n is not None
        need = self.spec.reference.learn_first_n - len(state.learning)
        taken = 0
        for e in events:
            if taken >= need:
                break
            row: dict[str, Any] = dict(e.features or {})
            if isinstance(e, PredictionEvent):
                row[_PRED_COLUMN] = e.score if (e.score is not None and self.spec.prediction.type == "score") else e.prediction
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

    def _windows(
        self,
        state: VersionState,
        events: Sequence[WindowEvent],
        reports: list[WindowReport],
        requests: list[RetrainRequest],
    ) -> None:
        assert state.window is not None and state.layout is not None
        ts = [e.timestamp for e in events]
        counted = [isinstance(e, PredictionEvent) for e in events]
        i = 0
        while i < len(events):
            w = state.window
            end, closes = next_boundary(ts, counted, i, w.n, w.first_ts, self.spec.window)
            w.add(events[i:end], state.layout)
            i = end
            if closes:
                report, request = self._close(state)
                reports.append(report)
                if request is not None:
                    requests.append(request)

    def _close(self, state: VersionState) -> tuple[WindowReport, RetrainRequest | None]:
        assert state.window is not None and state.layout is not None and state.reference is not None
        w = state.window
        readings, quality = evaluate_window(w, state.reference, self.spec)
        info = WindowInfo(index=w.index, start=w.start_ts, end=w.end_ts, events=w.n)
        report, request = decide(
            readings,
            quality,
            self.spec,
            state.policy,
            model_version=state.version,
            window=info,
            reference=state.reference_info(),
            params_hash=self.params_hash,
        )
        state.last_report = report
        state.window = Window.empty(w.index + 1, state.layout)
        return report, request

    # -- persistence -----------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        versions = {}
        for v, s in self.versions.items():
            versions[v] = {
                "reference": s.reference.model_dump(mode="json") if (s.learned and s.reference) else None,
                "learning": s.learning,
                "window": s.window.to_state() if s.window is not None else None,
                "policy": s.policy.to_state(),
            }
        return {"params": self.params_hash, "versions": versions}

    def load_state(self, data: Mapping[str, Any]) -> bool:
        """Restore from :meth:`to_state`. Returns ``False`` (and keeps a fresh state)
        when the parameters that shaped the state have changed."""
        if data.get("params") != self.params_hash:
            return False
        self.versions = {}
        for v, d in data["versions"].items():
            s = VersionState(v, None, learned=self.reference is None)
            ref = self.reference if self.reference is not None else (
                ReferenceProfile.model_validate(d["reference"]) if d["reference"] else None
            )
            if ref is not None:
                s.start(self.spec, ref)
                assert s.layout is not None
                s.window = Window.from_state(d["window"], s.layout)
            else:
                s.learning = list(d["learning"] or [])
            s.policy = PolicyState.from_state(d["policy"])
            self.versions[v] = s
        return True
