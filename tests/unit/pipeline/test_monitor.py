"""The Monitor: routing, dead letters, positions (replays and gaps), snapshots, versions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.windows.profile import PREDICTION, ReferenceProfile
from tests.conftest import make_monitor, records, window_tests_only


def _stationary_then_abrupt(mon: Monitor) -> tuple[Any, RetrainRequest]:
    """5000 stationary events (no request), then 4000 after an abrupt change: one new breach,
    and at most updates of it (each superseding the one before)."""
    events = list(generate(Scenario(kind="abrupt", change_at=5000, seed=3), 9000))
    out = mon.observe(records(events[:5000]), now=2e9)
    assert len(out.reports) == 5 and not out.requests
    out = mon.observe(records(events[5000:], start=5000), now=2e9)
    req = out.requests[0]
    assert req.supersedes is None
    assert all(b.supersedes == a.request_id for a, b in zip(out.requests, out.requests[1:], strict=False))
    return out, req


def test_stationary_then_abrupt_shift(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    out, req = _stationary_then_abrupt(make_monitor(demo_spec, demo_reference))
    # A CUSUM alarm closed window 5 early, a few events after the change, and made the request.
    first = next(r for r in out.reports if r.request_id is not None)
    assert first.window.index <= 6 and first.request_id == req.request_id
    assert first.window.end is not None and first.window.end - 1_767_225_650.0 < 1.0  # within 100 events
    assert {r.feature for r in req.reasons} <= {"amount", "country", "__prediction__"}
    assert any(r.detector == "cusum" for r in req.reasons)
    # The whole windows after it name both changed features, and not the unchanged ones.
    later = set().union(*(r.drifted for r in out.reports[1:3]))
    assert {"amount", "country"} <= later and "age" not in later
    assert out.consumed == {("fraud-detector", "v1", "prediction"): 4000}


def test_stationary_then_abrupt_shift_window_tests_alone(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    out, req = _stationary_then_abrupt(make_monitor(window_tests_only(demo_spec), demo_reference))
    assert req.reasons[0].window.index == 6  # the second drifting window completes the breach
    assert {r.feature for r in req.reasons} >= {"amount", "country"}
    assert "age" not in {r.feature for r in req.reasons}


def test_dead_letters_and_unknown_models(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    good = next(iter(generate(Scenario(), 1)))
    bad = [b"{oops", to_json({**good, "model_id": "other"}), to_json({**good, "features": {"amount": "x"}}),
           to_json(good).replace(b'"amount":', b'"amount":NaN,"x":'), None]
    out = mon.observe(records([*bad, good]), now=2e9)  # type: ignore[list-item]
    assert [d.reason for d in out.dead_letters] == ["invalid_json", "unknown_model", "non_finite_value",
                                                     "empty_payload"]
    # a string where a number belongs is a type mismatch counted by data quality, not a dead letter
    assert sum(out.consumed.values()) == 2


def test_replayed_records_are_skipped_and_gaps_ask_for_a_seek(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    evs = list(generate(Scenario(), 100))
    mon.observe(records(evs[:50]), now=0)
    again = mon.observe(records(evs[:60]), now=0)  # a replay from an older committed offset
    assert again.duplicates == 50 and sum(again.consumed.values()) == 10
    gap = mon.observe(records(evs[70:80], start=70), now=0)  # 60..69 were lost upstream
    assert gap.seeks == {("model-predictions", 0): 60} and not gap.consumed
    fill = mon.observe(records(evs[60:80], start=60), now=0)
    assert sum(fill.consumed.values()) == 20
    assert mon.models["fraud-detector"].versions["v1"].window.n == 80  # type: ignore[union-attr]


def test_snapshot_restore_continues_identically(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    events = list(generate(Scenario(kind="gradual", change_at=3000, seed=9), 8000))
    straight = make_monitor(demo_spec, demo_reference)
    a = straight.observe(records(events), now=0)
    first = make_monitor(demo_spec, demo_reference)
    b1 = first.observe(records(events[:4321]), now=0)
    second = make_monitor(demo_spec, demo_reference)
    second.restore(first.snapshot())
    b2 = second.observe(records(events[4321:], start=4321), now=0)
    assert [r.request_id for r in a.requests] == [r.request_id for r in (*b1.requests, *b2.requests)]
    assert [r.readings for r in a.reports] == [r.readings for r in (*b1.reports, *b2.reports)]
    assert straight.to_state() == second.to_state()


def test_changed_parameters_reset_state(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    mon.observe(records(generate(Scenario(), 500)), now=0)
    changed = demo_spec.model_copy(update={"window": demo_spec.window.model_copy(update={"events": 500})})
    other = make_monitor(changed, demo_reference)
    assert other.restore(mon.snapshot()) == ["fraud-detector"]
    assert other.positions == mon.positions and not other.models["fraud-detector"].versions


def test_versions_are_capped_and_retired(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    """Versions from events are learned up to max_versions (3); more go to "other"
    until a learned one has been idle for version_idle_seconds of event time."""
    mon = make_monitor(demo_spec, demo_reference)
    base = next(iter(generate(Scenario(), 1)))
    t0 = base["timestamp"]
    evs = [{**base, "event_id": str(i), "model_version": f"v{i}"} for i in range(5)]
    out = mon.observe(records(evs), now=0)
    assert list(mon.models["fraud-detector"].versions) == ["v0", "v1", "v2"]
    assert out.overflow == {("fraud-detector", "prediction"): 2}
    assert out.consumed[("fraud-detector", "other", "prediction")] == 2 and out.retired == ()
    # v1 and v2 stay busy; v0 falls idle, so the next new version takes its place.
    later = [{**base, "event_id": f"b{v}", "model_version": v, "timestamp": t0 + 3_601} for v in ("v1", "v2")]
    later.append({**base, "event_id": "c", "model_version": "v5", "timestamp": t0 + 3_602})
    out = mon.observe(records(later, start=5), now=0)
    assert out.retired == (("fraud-detector", "v0"),) and not out.overflow
    assert set(mon.learned["fraud-detector"]) == {"v1", "v2", "v5"}
    assert "v5" in mon.models["fraud-detector"].versions


def test_configured_versions_dead_letter_others(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    spec = demo_spec.model_copy(update={"versions": ["v1"]})
    mon = make_monitor(spec, demo_reference)
    base = next(iter(generate(Scenario(), 1)))
    out = mon.observe(records([base, {**base, "model_version": "v9"}]), now=0)
    assert [d.reason for d in out.dead_letters] == ["unknown_version"]


def test_learns_reference_from_first_events(demo_spec: ModelSpec) -> None:
    spec = ModelSpec.model_validate({**demo_spec.model_dump(), "reference": {"learn_first_n": 2000}})
    mon = make_monitor(spec, None)
    events = list(generate(Scenario(kind="abrupt", change_at=6000, seed=4), 10_000))
    out = mon.observe(records(events), now=0)
    vs = mon.models["fraud-detector"].versions["v1"]
    assert vs.reference is not None and vs.reference.rows == 2000 and PREDICTION not in vs.reference.features
    # 8 whole windows after the 2,000 learning events, one of them cut in two by the first
    # CUSUM alarm and another by the alarm that corroborated it
    assert len(out.reports) == 9 and out.requests and out.requests[0].reference.kind == "learned"
    restored = make_monitor(spec, None)
    restored.restore(mon.snapshot())
    assert restored.to_state() == mon.to_state()


def test_labels_are_counted(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    label = {"event_id": "e", "model_id": "fraud-detector", "timestamp": 1, "label": True}
    out = mon.observe(records([json.dumps(label).encode()], topic="model-labels", kind="label"), now=0)
    assert out.consumed == {("fraud-detector", "unknown", "label"): 1}


@pytest.mark.parametrize("pending", [True, False])
def test_pending_requests_survive_snapshots(demo_spec: ModelSpec, demo_reference: ReferenceProfile,
                                            pending: bool) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    out = mon.observe(records(generate(Scenario(kind="abrupt", change_at=0, seed=2), 2000)), now=0)
    ids = [r.request_id for r in out.requests]
    assert ids
    if not pending:
        mon.mark_published(ids)
    restored = make_monitor(demo_spec, demo_reference)
    restored.restore(mon.snapshot())
    assert list(restored.pending) == (ids if pending else [])


def test_unknown_model_inside_a_batch_is_refused_alone(demo_spec: ModelSpec,
                                                       demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    good = next(iter(generate(Scenario(), 1)))
    env = {"kind": "batch", "events": [good, {**good, "event_id": "x", "model_id": "stranger"}]}
    out = mon.observe(records([json.dumps(env).encode()]), now=0)
    assert [(d.reason, d.index) for d in out.dead_letters] == [("unknown_model", 1)]
    assert json.loads(out.dead_letters[0].payload or b"")["model_id"] == "stranger"
    assert sum(out.consumed.values()) == 1


def test_unknown_version_inside_a_batch_is_refused_alone(demo_spec: ModelSpec,
                                                         demo_reference: ReferenceProfile) -> None:
    """The dead letter carries that one event (and its position), not the whole envelope:
    an envelope of 1,000 events of an unconfigured version must not publish the envelope
    1,000 times to the dead-letter topic."""
    spec = demo_spec.model_copy(update={"versions": ["v1"]})
    mon = make_monitor(spec, demo_reference)
    good = {**next(iter(generate(Scenario(), 1))), "model_version": "v1"}
    env = {"kind": "batch", "events": [good, {**good, "event_id": "x", "model_version": "v9"}, good]}
    out = mon.observe(records([json.dumps(env).encode()]), now=0)
    assert [(d.reason, d.index, d.model_id) for d in out.dead_letters] == [("unknown_version", 1, "fraud-detector")]
    assert json.loads(out.dead_letters[0].payload or b"")["event_id"] == "x"
    assert sum(out.consumed.values()) == 2
