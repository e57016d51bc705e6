"""What one closed window concludes, on every path: the :class:`WindowReport` and its request.

Once a window's readings are judged (:mod:`stream_monitor.decisions.policy`),
the same rules apply to the drift and the label path: persistence (k of n),
incident, cooldown, severity (rule 9 of the policy) and the retrain request
(:class:`WindowStep`). :func:`severity` and :func:`subject` are the severity
rule and the key of per-subject persistence.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from stream_monitor.decisions.request import (
    Reason,
    ReferenceInfo,
    RetrainRequest,
    Severity,
    WindowInfo,
    request_id,
)
from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.base import DetectorState
from stream_monitor.detectors.reading import LABEL_KINDS, Quality, Reading
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.profile import PREDICTION
from stream_monitor.windows.segments import base_feature

__all__ = ["CRITICAL_KINDS", "WindowReport", "WindowStep", "severity", "subject"]

CRITICAL_KINDS = frozenset({"performance", "fairness"})  # label-path kinds that make a request critical


@dataclass(frozen=True, slots=True)
class WindowReport:
    """Everything decided when one window closed, on the drift or the label path."""

    model_id: str
    model_version: str
    window: WindowInfo
    readings: tuple[Reading, ...]
    quality: tuple[Quality, ...]
    drifted: tuple[str, ...]
    model_drift: bool
    insufficient: bool
    state: DetectorState
    streak: int
    severity: Severity | None
    request_id: str | None
    reference: ReferenceInfo
    source: str = "events"  # the drift path; the label path: "pairs" (joined) or "predictions"
    cause: str | None = None  # pairs: "concept" (the relation moved) or "covariate" (the inputs moved)


def subject(detector: str, feature: str | None) -> str:
    """The key of a reading's subject for per-subject persistence."""
    return f"{detector}|{feature or ''}"


def severity(reasons: Iterable[Reason], n_features: int, persistent: Collection[str] | None = None) -> Severity:
    """Critical when the prediction drifts, at least half of the input features drift,
    or a performance or fairness reading breaches persistently (its subject in
    ``persistent``: k of the last n windows, so one chance breach never makes a
    request critical; ``None``: every one counts); warning otherwise."""
    inputs: set[str] = set()
    for r in reasons:
        kind = r.detector.split(":", 1)[0]
        if kind in CRITICAL_KINDS:
            if persistent is None or subject(r.detector, r.feature) in persistent:
                return "critical"
            continue
        if kind not in LABEL_KINDS:
            inputs.add(base_feature(r.feature or ""))
    critical = PREDICTION in inputs or (bool(inputs) and 2 * len(inputs - {PREDICTION}) >= n_features)
    return "critical" if critical else "warning"


@dataclass(frozen=True, slots=True)
class WindowStep:
    """One window's decision once its readings are judged: persistence, incident,
    cooldown, severity and the request; the same for every path."""

    spec: ModelSpec
    state: PolicyState
    model_version: str
    window: WindowInfo
    reference: ReferenceInfo
    scope: str  # what request ids are unique within, besides model, version and window
    incarnation: str

    def conclude(
        self,
        readings: Sequence[Reading],
        counted: Sequence[Reading],
        quality: Sequence[Quality],
        *,
        insufficient: bool,
        drifted: bool,
        immediate: bool = False,
        evidence: bool = False,
        source: str = "events",
        cause: str | None = None,
    ) -> tuple[WindowReport, RetrainRequest | None]:
        spec, state, window = self.spec, self.state, self.window
        rt = spec.retrain
        n_features = len(spec.features)
        request = None
        persistent: frozenset[str] = frozenset()
        if not insufficient:
            state.record(drifted, rt.consecutive_windows, rt.history, rt.exit_below, immediate=immediate,
                         evidence=evidence)
            persistent = state.persist((subject(r.detector, r.feature) for r in counted), rt.consecutive_windows,
                                       rt.history)
            if state.state is DetectorState.DRIFT:
                state.incident.observe(((r.feature, r.detector, _reason(r, window)) for r in counted), rt.history)
            request = state.request(enabled=rt.enabled, drifted=drifted,
                                    severity=severity(state.incident.reasons(), n_features, persistent),
                                    end=window.end if window.end is not None else 0.0,
                                    cooldown_seconds=rt.cooldown_seconds, make=self._make)
        return WindowReport(
            model_id=spec.model_id,
            model_version=self.model_version,
            window=window,
            readings=tuple(readings),
            quality=tuple(quality),
            drifted=tuple(dict.fromkeys(r.feature for r in counted)),
            model_drift=drifted,
            insufficient=insufficient,
            state=state.state,
            streak=state.streak,
            severity=severity((_reason(r, window) for r in counted), n_features, persistent) if drifted else None,
            request_id=request.request_id if request else None,
            reference=self.reference,
            source=source,
            cause=cause,
        ), request

    def _make(self, supersedes: str | None, features: tuple[str, ...], reasons: tuple[Reason, ...],
              level: Severity) -> RetrainRequest:
        spec, window = self.spec, self.window
        return RetrainRequest(
            request_id=request_id(spec.model_id, self.model_version, self.scope, window.index, self.incarnation),
            model_id=spec.model_id,
            model_version=self.model_version,
            created_at=window.end if window.end is not None else 0.0,
            severity=level,
            consecutive_windows=self.state.streak,
            reasons=reasons,
            reference=self.reference,
            features=features,
            supersedes=supersedes,
        )


def _reason(r: Reading, window: WindowInfo) -> Reason:
    return Reason(detector=r.detector, feature=r.feature, statistic=r.statistic, value=r.value,
                  threshold=r.threshold, p_value=r.p_value, window=window)
