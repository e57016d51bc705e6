"""From window readings to decisions: drift per feature, per model, and retrain requests.

One policy for both paths: drift windows (:func:`decide`) and label-path
windows (:func:`decide_outcomes`: performance, concept drift, representation,
fairness) produce the same unjudged :class:`~stream_monitor.detectors.reading.Reading`,
are judged by the same multiple-testing control per family
(:mod:`stream_monitor.decisions.judge`), and go through the same persistence,
incident, cooldown and severity rules
(:class:`~stream_monitor.decisions.conclusion.WindowStep`). No kind of reading keeps a
private correction or streak. The policy, per model version and path:

1. A window with fewer than ``detectors.min_samples`` prediction events (label
   path: its own minimum) is *insufficient*: no test may fire and the streak
   is left as it was.
2. p-value tests are corrected for the number of tests of their family in the
   window (:mod:`stream_monitor.decisions.judge`); distance tests compare their
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
   false-alarm budget, :mod:`stream_monitor.pipeline.sequential`) are
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

9. Severity: a request is critical when the prediction drifts, at least half
   of the input features drift, or a performance or fairness reading breaches
   *persistently*: its subject (detector and feature) breached in k of the
   last n sufficient windows, the model's persistence rule applied per subject
   (:meth:`PolicyState.persist`); one chance breach never makes it critical.
10. Requests evolve (:mod:`stream_monitor.decisions.incident`): the first
   request of an incident is a new breach; during the cooldown, new drifting
   features or a higher severity make an update that supersedes it, and the
   same evidence again is suppressed. A request names every feature drifting
   in the last ``retrain.of_windows`` windows, with the latest evidence of each.

Everything here is a pure function of its inputs; the state it updates is part
of the persisted snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

from stream_monitor.decisions.conclusion import WindowReport, WindowStep
from stream_monitor.decisions.corroboration import ALARM, corroborate
from stream_monitor.decisions.judge import DATA_QUALITY, SEQUENTIAL, judge
from stream_monitor.decisions.judge import decided as _decided
from stream_monitor.decisions.request import (
    ReferenceInfo,
    RetrainRequest,
    WindowInfo,
)
from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.reading import Quality, Reading
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.segments import base_feature, is_segment

__all__ = ["DATA_QUALITY", "decide", "decide_outcomes"]

CAUSAL_KINDS = frozenset({"performance", "estimate", "concept"})  # label-path kinds whose breach has a cause


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
    """Decide one closed drift window; ``state`` is updated in place.

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
    ordered = [r for k in sorted(groups, key=lambda k: k != decide_on) for r in groups[k]]
    readings = judge(ordered, spec, insufficient=insufficient, min_samples=spec.detectors.min_samples)
    readings, corroborated = _sequential(readings, state, spec, decide_on, window.events)
    counts = spec.retrain.include_data_quality
    segments = spec.retrain.include_segments
    counted = [r for r in readings
               if r.drift and r.reference == decide_on and (counts or r.detector not in DATA_QUALITY)
               and (segments or not is_segment(r.feature))]
    # A feature drifting overall and in a segment is one drifted feature.
    bases = tuple(dict.fromkeys(base_feature(r.feature) for r in counted))
    step = WindowStep(spec, state, model_version, window, reference, params_hash, incarnation)
    return step.conclude(readings, counted, quality, insufficient=insufficient,
                         drifted=len(bases) >= spec.retrain.min_drifted_features,
                         immediate=corroborated, evidence=alarm)


def decide_outcomes(
    readings: Sequence[Reading],
    spec: ModelSpec,
    state: PolicyState,
    *,
    model_version: str,
    source: str,
    window: WindowInfo,
    minimum: int,
    reference: ReferenceInfo,
    params_hash: str,
    inputs_drift: bool | None = None,
    incarnation: str = "",
) -> tuple[WindowReport, RetrainRequest | None]:
    """Decide one closed label-path window (``source``: ``pairs`` or ``predictions``).

    Its readings are judged like a drift window's (:func:`~stream_monitor.decisions.judge.judge`:
    each family corrected at its level, effect floors, thresholds); a window
    *breaches* when any of them fires and it has at least ``minimum`` events,
    and then goes through the same persistence, incident, cooldown and
    severity rules as a drift window. With ``inputs_drift`` (pair windows), a
    breach of performance, the estimate check or concept drift has a cause:
    ``covariate`` while the inputs drift, else ``concept``. Request ids are
    distinct from the drift path's (the source is part of their scope).
    """
    insufficient = window.events < minimum
    judged = judge(readings, spec, insufficient=insufficient, min_samples=0)
    counted = [r for r in judged if r.drift]
    cause = None
    if inputs_drift is not None and any(r.kind in CAUSAL_KINDS for r in counted):
        cause = "covariate" if inputs_drift else "concept"
    step = WindowStep(spec, state, model_version, window, reference, f"{params_hash}:{source}", incarnation)
    return step.conclude(judged, counted, (), insufficient=insufficient, drifted=bool(counted), source=source,
                         cause=cause)
