"""From label-path readings (performance, concept, fairness, representation) to decisions.

The same persistence rule as the drift policy (``retrain``: k of n windows,
hysteresis, cooldown in event time, requests that evolve: see
:mod:`stream_monitor.decisions.incident`), applied to its own windows: a window
*breaches* when any of its readings does; insufficient windows (fewer events
than the window's minimum) never breach and leave the state as it was. A
retrain request names every breaching reading: ``detector`` is
``"<kind>:<metric>"`` (e.g. ``performance:accuracy``,
``fairness:disparate_impact_ratio``), ``feature`` the subject (the metric, or
``attribute=group`` for group readings), with the value and the threshold it
crossed. Request ids are deterministic, and distinct from the drift policy's.

Examples
--------
>>> from stream_monitor.decisions.request import WindowInfo
>>> r = OutcomeReading("performance", "accuracy", "accuracy", 0.71, 0.9, 0.85, 1000, True)
>>> r.reason(WindowInfo(index=3, start=0.0, end=1.0, events=1000)).detector
'performance:accuracy'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from stream_monitor.decisions.policy import PolicyState
from stream_monitor.decisions.request import Reason, ReferenceInfo, RetrainRequest, Severity, WindowInfo, request_id
from stream_monitor.detectors.base import DetectorState
from stream_monitor.modelspec import ModelSpec

__all__ = ["OutcomeReading", "OutcomeReport", "decide_outcomes"]


@dataclass(frozen=True, slots=True)
class OutcomeReading:
    """One judged statistic of one label-path window.

    ``kind`` is performance, estimate, concept, fairness, representation or
    comparison; ``subject`` the metric or ``attribute=group``; ``reference`` the
    reference value (if any) and ``threshold`` the value it was judged against.
    """

    kind: str
    metric: str
    subject: str
    value: float
    reference: float | None
    threshold: float | None
    n: int
    breach: bool
    attribute: str | None = None
    se: float | None = None

    def reason(self, window: WindowInfo) -> Reason:
        return Reason(
            detector=f"{self.kind}:{self.metric}",
            feature=self.subject,
            statistic=self.metric,
            value=self.value,
            threshold=self.threshold if self.threshold is not None else 0.0,
            window=window,
        )


@dataclass(frozen=True, slots=True)
class OutcomeReport:
    """A closed label-path window: ``source`` is ``pairs`` (joined) or ``predictions``."""

    model_id: str
    model_version: str
    source: str
    window: WindowInfo
    readings: tuple[OutcomeReading, ...]
    breached: bool
    insufficient: bool
    state: DetectorState
    streak: int
    request_id: str | None
    cause: str | None = None  # pairs: "concept" (the relation moved) or "covariate" (the inputs moved)


def _severity(reasons: Sequence[Reason]) -> Severity:
    """Critical when performance or fairness breaches, warning otherwise."""
    return "critical" if any(r.detector.split(":")[0] in ("performance", "fairness") for r in reasons) else "warning"


def decide_outcomes(
    readings: Sequence[OutcomeReading],
    spec: ModelSpec,
    state: PolicyState,
    *,
    model_version: str,
    source: str,
    window: WindowInfo,
    minimum: int,
    reference: ReferenceInfo,
    params_hash: str,
    cause: str | None = None,
    incarnation: str = "",
) -> tuple[OutcomeReport, RetrainRequest | None]:
    """Decide one closed window; ``state`` is updated in place."""
    insufficient = window.events < minimum
    breaching = [r for r in readings if r.breach] if not insufficient else []
    breached = bool(breaching)
    rt = spec.retrain
    end = window.end if window.end is not None else 0.0
    request = None
    if not insufficient:
        state.record(breached, rt.consecutive_windows, rt.history, rt.exit_below)
        if state.state is DetectorState.DRIFT:
            state.incident.observe(
                ((r.subject, f"{r.kind}:{r.metric}", r.reason(window)) for r in breaching), rt.history)

        def make(supersedes: str | None, features: tuple[str, ...], reasons: tuple[Reason, ...]) -> RetrainRequest:
            return RetrainRequest(
                request_id=request_id(spec.model_id, model_version, f"{params_hash}:{source}", window.index,
                                      incarnation),
                model_id=spec.model_id,
                model_version=model_version,
                created_at=end,
                severity=_severity(reasons),
                consecutive_windows=state.streak,
                reasons=reasons,
                reference=reference,
                features=features,
                supersedes=supersedes,
            )

        request = state.request(enabled=rt.enabled, drifted=breached, severity=_severity(state.incident.reasons()),
                                end=end, cooldown_seconds=rt.cooldown_seconds, make=make)
    report = OutcomeReport(
        model_id=spec.model_id,
        model_version=model_version,
        source=source,
        window=window,
        readings=tuple(readings) if not insufficient else tuple(dataclasses.replace(r, breach=False) for r in readings),
        breached=breached,
        insufficient=insufficient,
        state=state.state,
        streak=state.streak,
        request_id=request.request_id if request else None,
        cause=cause,
    )
    return report, request
