"""From window readings to decisions: drift per feature, per model, and retrain requests.

The policy, per model version:

1. A window with fewer than ``detectors.min_samples`` prediction events is
   *insufficient*: no test may fire and the streak is left as it was.
2. p-value tests are corrected for the number of tests in the window
   (:mod:`stream_monitor.decisions.thresholds`); distance tests compare their
   statistic to their threshold.
3. The model drifts in a window when at least ``retrain.min_drifted_features``
   features (the prediction counts as one) drift.
4. Persistence is k of n: the model enters ``drift`` when at least
   ``retrain.consecutive_windows`` (k) of the last ``retrain.of_windows`` (n)
   sufficient windows drifted, and leaves it (hysteresis) only when fewer than
   ``retrain.exit_below`` of them did. Outside ``drift`` the state is
   ``warning`` when this window drifted and ``ok`` otherwise. ``streak`` counts
   consecutive drifting windows (reported, and in the retrain request).
5. A retrain request is published when the model is in ``drift``, this window
   drifted and the model is not in cooldown; cooldown then lasts
   ``retrain.cooldown_seconds`` of event time from the window's end.
6. Tests whose own sample (``Reading.n``) is below ``detectors.min_samples``
   never fire, and p-value tests fire only when their effect size reaches its
   floor: on a window of a million events a KS p-value of 1e-9 for D = 0.01 is
   real but irrelevant (the "cries wolf on large samples" problem).
7. Sequential readings (``detector="cusum"``, per-event CUSUMs with their own
   false-alarm budget, :mod:`stream_monitor.detectors.sequential`) are
   evidence: an alarm drifts its feature only once corroborated
   (:mod:`stream_monitor.decisions.corroboration`: the same feature again, a
   window test on it, or another input feature, within
   ``detectors.sequential.confirm_events`` events). A window an alarm closed
   early is never insufficient; an uncorroborated alarm puts the model in
   ``warning``; a corroborated one that makes the model drift enters ``drift``
   at once instead of waiting for k of n windows.
8. Per-segment readings (``feature@attribute=group``) are corrected together
   with the window's other tests and may fire; they count towards the model's
   drift only with ``retrain.include_segments``, and a feature drifting overall
   and in segments counts once.

9. Requests evolve (:mod:`stream_monitor.decisions.incident`): the first
   request of an incident is a new breach; during the cooldown, new drifting
   features or a higher severity make an update that supersedes it, and the
   same evidence again is suppressed. A request names every feature drifting
   in the last ``retrain.of_windows`` windows, with the latest evidence of each.

Everything here is a pure function of its inputs; the state it updates is part
of the persisted snapshot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_monitor.decisions.corroboration import ALARM, Mark, corroborate
from stream_monitor.decisions.incident import Incident
from stream_monitor.decisions.request import (
    Reason,
    ReferenceInfo,
    RetrainRequest,
    Severity,
    WindowInfo,
    request_id,
)
from stream_monitor.decisions.thresholds import reject
from stream_monitor.detectors.base import DetectorState
from stream_monitor.modelspec import ModelSpec
from stream_monitor.windows.profile import PREDICTION
from stream_monitor.windows.segments import base_feature, is_segment

__all__ = ["DATA_QUALITY", "PolicyState", "Quality", "Reading", "WindowReport", "decide"]


DATA_QUALITY = frozenset({"missing_rate"})
SEQUENTIAL = "cusum"


@dataclass(frozen=True, slots=True)
class Reading:
    """One test on one feature in one window. ``threshold`` is the corrected
    alpha for p-value tests and the statistic's threshold for distance tests."""

    feature: str
    detector: str
    statistic: str
    value: float
    threshold: float
    p_value: float | None
    drift: bool
    n: int
    n_reference: int
    effect: float | None = None  # p-value tests: the effect size (e.g. KS D, Cohen's w)
    effect_floor: float | None = None  # ... which must reach this for the test to fire
    reference: str = "static"  # what it compared against: "static" (or learned) or "rolling"


@dataclass(frozen=True, slots=True)
class Quality:
    """Data-quality rates of one feature in one window (shares of values seen)."""

    feature: str
    observed: int
    missing_rate: float
    mismatched_rate: float
    out_of_range_rate: float | None  # numeric features
    unseen_rate: float | None  # categorical features


@dataclass(frozen=True, slots=True)
class WindowReport:
    """Everything decided when one window closed."""

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


@dataclass(slots=True)
class PolicyState:
    """The persisted part of the policy of one model version.

    ``position`` counts the events of every window decided; ``marks`` hold the
    sequential evidence within the corroboration horizon; ``incident`` the
    features drifting now and the last request.
    """

    streak: int = 0
    cooldown_until: float | None = None
    state: DetectorState = DetectorState.OK
    history: list[bool] = dataclasses.field(default_factory=list)  # recent windows, oldest first
    position: int = 0
    marks: list[Mark] = dataclasses.field(default_factory=list)
    incident: Incident = dataclasses.field(default_factory=Incident)

    def to_state(self) -> dict[str, Any]:
        return {
            "streak": self.streak,
            "cooldown_until": self.cooldown_until,
            "state": self.state.value,
            "history": list(self.history),
            "position": self.position,
            "marks": [list(m) for m in self.marks],
            "incident": self.incident.to_state(),
        }

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> PolicyState:
        # Snapshots from before k-of-n have no history: the streak is its tail.
        history = data.get("history")
        if history is None:
            history = [True] * int(data["streak"])
        marks: list[Mark] = [(str(f), str(k), int(p)) for f, k, p in data.get("marks") or []]
        return cls(int(data["streak"]), data["cooldown_until"], DetectorState(data["state"]),
                   [bool(x) for x in history], int(data.get("position") or 0), marks,
                   Incident.from_state(data.get("incident")))

    def record(
        self, drifted: bool, k: int, n: int, exit_below: int, *, immediate: bool = False, evidence: bool = False
    ) -> None:
        """Add one sufficient window's outcome and move the state (k of n, hysteresis);
        ``immediate`` (a corroborated sequential alarm) enters drift without waiting for k;
        ``evidence`` (an alarm not yet corroborated) makes a quiet window a warning."""
        self.streak = self.streak + 1 if drifted else 0
        self.history = [*self.history, drifted][-n:]
        count = sum(self.history)
        if self.state is DetectorState.DRIFT and count >= exit_below:
            return
        if count >= k or (immediate and drifted):
            self.state = DetectorState.DRIFT
        else:
            self.state = DetectorState.WARNING if (drifted or evidence) else DetectorState.OK
        if self.state is not DetectorState.DRIFT:
            self.incident.close()

    def request(
        self,
        *,
        enabled: bool,
        drifted: bool,
        severity: Severity,
        end: float,
        cooldown_seconds: float,
        make: Callable[[str | None, tuple[str, ...], tuple[Reason, ...]], RetrainRequest],
    ) -> RetrainRequest | None:
        """The request this window makes, if any (the incident's rules); ``make`` builds
        it from the id it supersedes, the features and the reasons."""
        if not (enabled and drifted and self.state is DetectorState.DRIFT):
            return None
        in_cooldown = self.cooldown_until is not None and end < self.cooldown_until
        if not self.incident.wanted(severity, in_cooldown=in_cooldown):
            return None
        request = make(self.incident.supersedes, self.incident.features, self.incident.reasons())
        self.incident.made(request.request_id, severity)
        self.cooldown_until = end + cooldown_seconds
        return request


def _decided(r: Reading, drift: bool, threshold: float | None = None) -> Reading:
    """``r`` with its decision (and corrected threshold): ``dataclasses.replace`` without
    its per-field introspection (~3 us a call; a window close makes ~100)."""
    return Reading(r.feature, r.detector, r.statistic, r.value, r.threshold if threshold is None else threshold,
                   r.p_value, drift, r.n, r.n_reference, r.effect, r.effect_floor, r.reference)


def _finalise(readings: Sequence[Reading], spec: ModelSpec, insufficient: bool) -> list[Reading]:
    """Apply the multiple-testing correction, thresholds, sample and effect floors to raw readings."""
    det = spec.detectors
    pv_idx = [i for i, r in enumerate(readings) if r.p_value is not None]
    flags, alpha = reject([readings[i].p_value for i in pv_idx], det.alpha, det.correction)  # type: ignore[misc]
    drift_by_idx = dict(zip(pv_idx, flags, strict=True))
    out = []
    for i, r in enumerate(readings):
        if r.detector == SEQUENTIAL:  # evidence: it drifts only once corroborated (_sequential)
            out.append(_decided(r, False))
            continue
        quiet = insufficient or (r.detector not in DATA_QUALITY and r.n < det.min_samples)
        if r.p_value is not None:
            large_enough = r.effect_floor is None or (r.effect is not None and r.effect >= r.effect_floor)
            drift = drift_by_idx[i] and large_enough
            out.append(_decided(r, drift and not quiet, alpha))
        else:
            out.append(_decided(r, r.value > r.threshold and not quiet))
    return out


def _sequential(
    readings: list[Reading], state: PolicyState, spec: ModelSpec, decide_on: str, events: int
) -> tuple[list[Reading], bool]:
    """Corroborate this window's sequential alarms (see the module docstring, rule 7).

    Returns the readings with the sequential ones decided, and whether one of
    them drifted (the state then enters drift at once)."""
    alarms = {r.feature: int(r.value) for r in readings
              if r.detector == SEQUENTIAL and r.value > r.threshold and r.reference == decide_on}
    tests = {base_feature(r.feature) for r in readings
             if r.drift and r.detector != SEQUENTIAL and r.detector not in DATA_QUALITY and r.reference == decide_on}
    state.position += events
    if not alarms and not state.marks:
        return readings, False
    horizon = spec.detectors.sequential.confirm_events
    confirmed = corroborate(state.marks, alarms=alarms, tests=tests, position=state.position, horizon=horizon)
    out = []
    fired = False
    for r in readings:
        if r.detector == SEQUENTIAL and r.reference == decide_on and r.feature in confirmed:
            if r.value <= r.threshold:  # its alarm came in an earlier window of the horizon: say so
                count = sum(1 for f, kind, _ in state.marks if f == r.feature and kind == ALARM)
                r = Reading(r.feature, r.detector, f"alarms within {horizon} events", float(count), r.threshold,
                            r.p_value, r.drift, r.n, r.n_reference, r.effect, r.effect_floor, r.reference)
            out.append(_decided(r, True))
            fired = True
        else:
            out.append(r)
    return out, fired


def _severity(features: Sequence[str], n_features: int) -> Severity:
    bases = {base_feature(f) for f in features}
    critical = PREDICTION in bases or 2 * len(bases - {PREDICTION}) >= n_features
    return "critical" if critical else "warning"


def decide(
    raw: Sequence[Reading],
    quality: Sequence[Quality],
    spec: ModelSpec,
    state: PolicyState,
    *,
    model_version: str,
    window: WindowInfo,
    reference: ReferenceInfo,
    params_hash: str,
    decide_on: str = "static",
    incarnation: str = "",
) -> tuple[WindowReport, RetrainRequest | None]:
    """Decide one closed window; ``state`` is updated in place.

    Readings against different references (``Reading.reference``) are corrected
    separately; only those against ``decide_on`` make the decision, the others
    are evidence. ``reference`` describes the one decided on; ``incarnation``
    tells this life of the version from an earlier one (request ids).
    """
    alarm = any(r.detector == SEQUENTIAL and r.value > r.threshold for r in raw)
    insufficient = window.events < spec.detectors.min_samples and not alarm
    groups: dict[str, list[Reading]] = {}
    for r in raw:
        groups.setdefault(r.reference, []).append(r)
    if decide_on not in groups:
        decide_on = "static"
    finalised = {k: _finalise(v, spec, insufficient) for k, v in groups.items()}
    readings = [r for k in sorted(finalised, key=lambda k: k != decide_on) for r in finalised[k]]
    readings, corroborated = _sequential(readings, state, spec, decide_on, window.events)
    counts = spec.retrain.include_data_quality
    segments = spec.retrain.include_segments
    counted = [r for r in readings
               if r.drift and r.reference == decide_on and (counts or r.detector not in DATA_QUALITY)
               and (segments or not is_segment(r.feature))]
    drifted = tuple(dict.fromkeys(r.feature for r in counted))
    # A feature drifting overall and in a segment is one drifted feature.
    bases = tuple(dict.fromkeys(base_feature(f) for f in drifted))
    model_drift = len(bases) >= spec.retrain.min_drifted_features
    rt = spec.retrain
    if not insufficient:
        state.record(model_drift, rt.consecutive_windows, rt.history, rt.exit_below, immediate=corroborated,
                     evidence=alarm)
        if state.state is DetectorState.DRIFT:
            state.incident.observe(((r.feature, r.detector, _reason(r, window)) for r in counted), rt.history)
    n_features = len(spec.features)
    severity: Severity | None = _severity(bases, n_features) if model_drift else None
    end = window.end if window.end is not None else 0.0

    def make(supersedes: str | None, features: tuple[str, ...], reasons: tuple[Reason, ...]) -> RetrainRequest:
        return RetrainRequest(
            request_id=request_id(spec.model_id, model_version, params_hash, window.index, incarnation),
            model_id=spec.model_id,
            model_version=model_version,
            created_at=end,
            severity=_severity(features, n_features),
            consecutive_windows=state.streak,
            reasons=reasons,
            reference=reference,
            features=features,
            supersedes=supersedes,
        )

    request = None
    if not insufficient:
        request = state.request(enabled=rt.enabled, drifted=model_drift,
                                severity=_severity(state.incident.features, n_features), end=end,
                                cooldown_seconds=rt.cooldown_seconds, make=make)
    report = WindowReport(
        model_id=spec.model_id,
        model_version=model_version,
        window=window,
        readings=tuple(readings),
        quality=tuple(quality),
        drifted=drifted,
        model_drift=model_drift,
        insufficient=insufficient,
        state=state.state,
        streak=state.streak,
        severity=severity,
        request_id=request.request_id if request else None,
        reference=reference,
    )
    return report, request


def _reason(r: Reading, window: WindowInfo) -> Reason:
    return Reason(detector=r.detector, feature=r.feature, statistic=r.statistic, value=r.value,
                  threshold=r.threshold, p_value=r.p_value, window=window)
