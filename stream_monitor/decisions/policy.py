"""From window readings to decisions: drift per feature, per model, and retrain requests.

The policy, per model version:

1. A window with fewer than ``detectors.min_samples`` prediction events is
   *insufficient*: no test may fire and the streak is left as it was.
2. p-value tests are corrected for the number of tests in the window
   (:mod:`stream_monitor.decisions.thresholds`); distance tests compare their
   statistic to their threshold.
3. The model drifts in a window when at least ``retrain.min_drifted_features``
   features (the prediction counts as one) drift.
4. ``streak`` counts consecutive drifting windows. State is ``ok`` (no drift),
   ``warning`` (drift, streak below ``retrain.consecutive_windows``) or
   ``drift``. A retrain request is published when the streak reaches the
   threshold and the model is not in cooldown; cooldown then lasts
   ``retrain.cooldown_seconds`` of event time from the window's end.

Everything here is a pure function of its inputs; the state it updates is part
of the persisted snapshot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_monitor.decisions.request import (
    Reason,
    ReferenceInfo,
    RetrainRequest,
    WindowInfo,
    request_id,
)
from stream_monitor.decisions.thresholds import reject
from stream_monitor.detectors.base import DetectorState
from stream_monitor.modelspec import ModelSpec
from stream_monitor.windows.profile import PREDICTION

__all__ = ["DATA_QUALITY", "PolicyState", "Quality", "Reading", "WindowReport", "decide"]


DATA_QUALITY = frozenset({"missing_rate"})


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
    severity: str | None
    request_id: str | None
    reference: ReferenceInfo


@dataclass(slots=True)
class PolicyState:
    """The persisted part of the policy of one model version."""

    streak: int = 0
    cooldown_until: float | None = None
    state: DetectorState = DetectorState.OK

    def to_state(self) -> dict[str, Any]:
        return {"streak": self.streak, "cooldown_until": self.cooldown_until, "state": self.state.value}

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> PolicyState:
        return cls(int(data["streak"]), data["cooldown_until"], DetectorState(data["state"]))


def _finalise(readings: Sequence[Reading], spec: ModelSpec, insufficient: bool) -> list[Reading]:
    """Apply the multiple-testing correction and thresholds to raw readings."""
    det = spec.detectors
    pv_idx = [i for i, r in enumerate(readings) if r.p_value is not None]
    flags, alpha = reject([readings[i].p_value for i in pv_idx], det.alpha, det.correction)  # type: ignore[misc]
    drift_by_idx = dict(zip(pv_idx, flags, strict=True))
    out = []
    for i, r in enumerate(readings):
        if r.p_value is not None:
            drift = drift_by_idx[i]
            out.append(dataclasses.replace(r, threshold=alpha, drift=drift and not insufficient))
        else:
            out.append(dataclasses.replace(r, drift=r.value > r.threshold and not insufficient))
    return out


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
) -> tuple[WindowReport, RetrainRequest | None]:
    """Decide one closed window; ``state`` is updated in place."""
    insufficient = window.events < spec.detectors.min_samples
    readings = _finalise(raw, spec, insufficient)
    counts = spec.retrain.include_data_quality
    drifted = tuple(
        dict.fromkeys(r.feature for r in readings if r.drift and (counts or r.detector not in DATA_QUALITY))
    )
    model_drift = len(drifted) >= spec.retrain.min_drifted_features
    if not insufficient:
        state.streak = state.streak + 1 if model_drift else 0
        k = spec.retrain.consecutive_windows
        state.state = (
            DetectorState.DRIFT if state.streak >= k else DetectorState.WARNING if state.streak else DetectorState.OK
        )
    n_features = len(spec.features)
    critical = PREDICTION in drifted or 2 * len([f for f in drifted if f != PREDICTION]) >= n_features
    severity = ("critical" if critical else "warning") if model_drift else None
    request: RetrainRequest | None = None
    in_cooldown = (
        state.cooldown_until is not None and window.end is not None and window.end < state.cooldown_until
    )
    if (
        spec.retrain.enabled
        and not insufficient
        and state.state is DetectorState.DRIFT
        and model_drift
        and not in_cooldown
    ):
        rid = request_id(spec.model_id, model_version, params_hash, window.index)
        request = RetrainRequest(
            request_id=rid,
            model_id=spec.model_id,
            model_version=model_version,
            created_at=window.end if window.end is not None else 0.0,
            severity=severity or "warning",
            consecutive_windows=state.streak,
            reasons=tuple(
                Reason(
                    detector=r.detector,
                    feature=r.feature,
                    statistic=r.statistic,
                    value=r.value,
                    threshold=r.threshold,
                    p_value=r.p_value,
                    window=window,
                )
                for r in readings
                if r.drift
            ),
            reference=reference,
        )
        end = window.end if window.end is not None else 0.0
        state.cooldown_until = end + spec.retrain.cooldown_seconds
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
