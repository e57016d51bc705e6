"""Sequential alarms are evidence; requests evolve within an incident.

Rules under test: :mod:`stream_monitor.decisions.corroboration` (an alarm drifts
its feature only when corroborated) and :mod:`stream_monitor.decisions.incident`
(new breach, updates that supersede, cooldown for repeats only, ids per
incarnation of a version). Streams are seeded; each test states what it
expects of chance.
"""

from __future__ import annotations

import math
from typing import Any

from stream_monitor.decisions import PolicyState, Reading, decide
from stream_monitor.decisions.corroboration import MAX_MARKS, corroborate
from stream_monitor.decisions.request import ReferenceInfo, WindowInfo
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.windows.profile import MULTIVARIATE, PREDICTION, ReferenceProfile
from tests.conftest import make_monitor, records

REF = ReferenceInfo(kind="static", source="test", fingerprint="f", rows=20_000)


# -- the corroboration rule alone -------------------------------------------------------

def test_one_alarm_alone_is_not_corroborated() -> None:
    marks: list[Any] = []
    assert corroborate(marks, alarms={"age": 1}, tests=set(), position=500, horizon=2000) == set()
    # ... and stays so while nothing else comes
    assert corroborate(marks, alarms={}, tests=set(), position=1500, horizon=2000) == set()


def test_the_same_feature_again_corroborates_within_the_horizon_only() -> None:
    marks: list[Any] = []
    corroborate(marks, alarms={"age": 1}, tests=set(), position=500, horizon=2000)
    assert corroborate(marks, alarms={"age": 1}, tests=set(), position=2400, horizon=2000) == {"age"}
    late: list[Any] = []
    corroborate(late, alarms={"age": 1}, tests=set(), position=500, horizon=2000)
    assert corroborate(late, alarms={"age": 1}, tests=set(), position=2600, horizon=2000) == set()
    # two streams of the feature alarming in one window are one piece of evidence, not persistence
    assert corroborate([], alarms={"age": 2}, tests=set(), position=10, horizon=2000) == set()


def test_a_window_test_on_the_same_feature_corroborates_but_not_on_another() -> None:
    assert corroborate([], alarms={"age": 1}, tests={"age"}, position=10, horizon=2000) == {"age"}
    assert corroborate([], alarms={"age": 1}, tests={"amount"}, position=10, horizon=2000) == set()
    marks: list[Any] = []
    corroborate(marks, alarms={"age": 1}, tests=set(), position=600, horizon=2000)
    assert corroborate(marks, alarms={}, tests={"age"}, position=1600, horizon=2000) == {"age"}  # the next window


def test_two_input_features_corroborate_each_other_summaries_do_not() -> None:
    assert corroborate([], alarms={"age": 1, "amount": 1}, tests=set(), position=10, horizon=2000) == {"age",
                                                                                                       "amount"}
    # the prediction and the multivariate readings summarise the inputs: no independent evidence for them
    assert corroborate([], alarms={"age": 1, PREDICTION: 1}, tests=set(), position=10, horizon=2000) == {PREDICTION}
    assert corroborate([], alarms={PREDICTION: 1, MULTIVARIATE: 1}, tests=set(), position=10, horizon=2000) == set()


def test_marks_are_bounded() -> None:
    marks: list[Any] = []
    for i in range(10 * MAX_MARKS):
        corroborate(marks, alarms={f"f{i}": 1}, tests={f"g{i}"}, position=i, horizon=10 ** 9)
    assert len(marks) == MAX_MARKS


# -- through decide() --------------------------------------------------------------------

def _cusum(feature: str, alarms: float) -> Reading:
    return Reading(feature, "cusum", "alarms", alarms, 0.5, None, False, 1000, 20_000)


def _ks(feature: str, p: float) -> Reading:
    return Reading(feature, "ks", "D", 0.2, 0.0, p, False, 1000, 20_000, effect=0.2, effect_floor=0.05)


def _decide(spec: ModelSpec, state: PolicyState, raw: list[Reading], index: int, events: int = 1000) -> Any:
    window = WindowInfo(index=index, start=float(index), end=float(index) + 0.5, events=events)
    return decide(raw, [], spec, state, model_version="v1", window=window, reference=REF, params_hash="p")


def test_a_single_alarm_makes_no_request_and_a_warning(demo_spec: ModelSpec) -> None:
    state = PolicyState()
    report, request = _decide(demo_spec, state, [_cusum("age", 1), _ks("age", 0.5)], 0, events=420)
    assert request is None and report.state.value == "warning" and not report.model_drift
    for i in range(1, 4):  # quiet windows after it: back to ok, still no request
        report, request = _decide(demo_spec, state, [_cusum("age", 0), _ks("age", 0.5)], i)
        assert request is None and report.state.value == "ok"


def test_a_corroborated_alarm_enters_drift_at_once(demo_spec: ModelSpec) -> None:
    state = PolicyState()
    _decide(demo_spec, state, [_cusum("age", 1), _ks("age", 0.5)], 0, events=420)
    report, request = _decide(demo_spec, state, [_cusum("age", 1), _ks("age", 0.5)], 1, events=30)
    assert report.state.value == "drift" and request is not None and request.supersedes is None
    assert request.features == ("age",) and request.reasons[0].detector == "cusum"


def test_an_alarm_corroborated_later_is_reported_with_its_count(demo_spec: ModelSpec) -> None:
    state = PolicyState()
    _decide(demo_spec, state, [_cusum("age", 1), _cusum("amount", 0)], 0, events=420)
    report, request = _decide(demo_spec, state, [_cusum("age", 0), _cusum("amount", 1)], 1, events=30)
    assert request is not None and set(request.features) == {"age", "amount"}
    age = next(r for r in request.reasons if r.feature == "age")
    # the age alarm was in the window before: the reason counts it, it does not say "0 alarms"
    assert age.statistic == "alarms within 2000 events" and age.value == 1.0 > age.threshold


# -- requests that evolve ----------------------------------------------------------------

def _spliced(n: int, *, amount_from: int, country_from: int | None, seed: int = 11) -> list[dict[str, Any]]:
    """The demo's stationary stream with a shift of log(amount) by 0.8 from ``amount_from`` and,
    from ``country_from``, two thirds of the countries replaced by "PL" (the scores left as drawn)."""
    out = []
    for i, e in enumerate(generate(Scenario(seed=seed), n)):
        f = dict(e["features"])
        if i >= amount_from:
            f["amount"] = round(f["amount"] * math.exp(0.8), 2)
        if country_from is not None and i >= country_from and i % 3:
            f["country"] = "PL"
        out.append({**e, "features": f})
    return out


def test_a_second_feature_drifting_in_cooldown_makes_a_superseding_request(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    out = mon.observe(records(_spliced(12_000, amount_from=3000, country_from=8000)), now=2e9)
    first, *updates = out.requests
    assert first.supersedes is None and "amount" in first.features and "country" not in first.features
    assert first.created_at < 1_767_225_600.0 + 40  # within 1,000 events of the change
    # the whole stream is within the cooldown (3600 s of event time): only new evidence is published
    assert updates, "the country's drift made no update"
    update = next(u for u in updates if "country" in u.features)
    assert {"amount", "country"} <= set(update.features)
    assert update.created_at >= 1_767_225_600.0 + 80  # after the country changed
    chain = [first, *updates]
    assert all(b.supersedes == a.request_id for a, b in zip(chain, chain[1:], strict=False))
    assert len({r.request_id for r in chain}) == len(chain)
    # each request names its features' evidence, the amount's too in the update
    assert {r.feature for r in update.reasons} >= {"amount", "country"}
    # windows that repeat the same evidence make no request: far fewer requests than drifting windows
    drifting = [r for r in out.reports if r.model_drift]
    assert len(drifting) >= 8 and len(chain) <= 4


def test_the_same_evidence_after_the_cooldown_supersedes(demo_spec: ModelSpec,
                                                         demo_reference: ReferenceProfile) -> None:
    spec = demo_spec.model_copy(update={"retrain": demo_spec.retrain.model_copy(update={"cooldown_seconds": 30.0})})
    mon = make_monitor(spec, demo_reference)
    out = mon.observe(records(_spliced(12_000, amount_from=2000, country_from=None)), now=2e9)
    assert len(out.requests) >= 2
    assert out.requests[0].supersedes is None
    assert all(r.supersedes is not None for r in out.requests[1:])  # one incident: reminders, not new breaches
    rank = {"warning": 1, "critical": 2}
    repeats = [(a, b) for a, b in zip(out.requests, out.requests[1:], strict=False)
               if set(b.features) <= set(a.features) and rank[b.severity] <= rank[a.severity]]
    assert repeats, "no repeat of the same evidence after the cooldown"
    assert all(b.created_at - a.created_at >= 30.0 for a, b in repeats)  # repeats wait out the cooldown


def test_request_ids_never_repeat_when_a_retired_version_returns(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    mon = ModelMonitor(demo_spec, demo_reference)
    from stream_monitor.events import PredictionEvent

    def evs(version: str, start: int, n: int, *, drift: bool) -> list[PredictionEvent]:
        scenario = Scenario(kind="abrupt" if drift else "stationary", change_at=0 if drift else None, seed=4,
                            model_version=version)
        return [PredictionEvent.model_validate(e) for e in generate(scenario, n, start=start)]

    first = mon.observe(evs("v1", 0, 3000, drift=True)).requests
    assert first
    for v in ("v2", "v3", "v4"):  # max_versions 3: v1 is retired
        mon.observe(evs(v, 3000, 10, drift=False))
    assert "v1" not in mon.versions
    again = mon.observe(evs("v1", 20_000, 3000, drift=True)).requests
    assert again and not {r.request_id for r in first} & {r.request_id for r in again}
