"""The pipeline's state parts round-trip through their models and JSON: equal, unaliased, and
fitted to the configuration they are restored into (derived counters recomputed, parts of
another configuration reset or dropped)."""

from __future__ import annotations

import json
import random
import zlib
from functools import cache

from stream_monitor.pipeline.joins import JoinBuffer
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.pipeline.state import LabelJoinState, ModelMonitorState, OutcomeMonitorState
from stream_monitor.pipeline.version_state import VersionState
from stream_monitor.windows.segments import SegmentWindows
from stream_monitor.windows.state import SegmentsState
from tests.unit.pipeline import snapshot_scenario as sc


def _join(seed: int) -> JoinBuffer:
    rng = random.Random(seed)
    j = JoinBuffer(ttl_seconds=200.0, max_pending=60, max_labels=40, min_ttl_seconds=50.0, seed=seed)
    for i in range(1500):
        eid = f"e{rng.randrange(600)}"
        if rng.random() < 0.6:
            groups = ["north"] if rng.random() < 0.5 else []
            j.add_prediction(eid, rng.choice(["v1", "v2"]), float(i), [rng.random(), "1", groups],
                             pinned=rng.random() < 0.1)
        else:
            j.add_label(eid, rng.choice([None, "v1"]), float(i) + rng.random() * 30, rng.choice(["0", "1"]))
    return j


def _counters(j: JoinBuffer) -> tuple[object, ...]:
    return (j.n_preds, j.bytes, j.pinned_bytes, j.n_delays, j.ttl, j.halvings, j.watermark)


def test_the_label_join_round_trips_through_json_with_its_counters_derived() -> None:
    for seed in (1, 2, 3):
        j = _join(seed)
        assert j.preds and j.labels and j.tombstones and j.n_delays  # every part is exercised
        stored = j.to_state().model_dump_json()
        again = JoinBuffer(ttl_seconds=200.0, max_pending=60, max_labels=40, min_ttl_seconds=50.0, seed=seed)
        again.load_state(LabelJoinState.model_validate_json(stored))
        assert again.to_state().model_dump_json() == stored
        assert _counters(again) == _counters(j)
        assert again.preds == {e: {v: [x[0], x[1], int(x[2])] for v, x in w.items()} for e, w in j.preds.items()}
        assert again.labels == j.labels and again.tombstones == j.tombstones and again.delays == j.delays
        # ... and both go on alike
        for k in range(1500, 1800):
            for buf in (j, again):
                buf.add_prediction(f"n{k}", "v1", float(k), [0.5, "0", []])
                buf.add_label(f"n{k - 20}", None, float(k), "1")
        assert again.to_state() == j.to_state() and _counters(again) == _counters(j)


def test_the_label_join_state_does_not_alias_the_buffer() -> None:
    j = _join(4)
    state = j.to_state()
    before = state.model_dump_json()
    eid, waiting = next(iter(j.preds.items()))
    next(iter(waiting.values()))[1][2].append("changed")
    next(iter(j.labels.values()))[3].append("v9")
    assert state.model_dump_json() == before
    again = JoinBuffer(ttl_seconds=200.0, max_pending=60, max_labels=40, min_ttl_seconds=50.0, seed=4)
    again.load_state(state)
    next(iter(next(iter(again.preds.values())).values()))[1].append("more")
    next(iter(again.labels.values()))[3].append("v8")
    assert state.model_dump_json() == before


def test_a_label_join_state_of_another_shape_fits_the_configured_buffer() -> None:
    j = _join(5)
    raw = json.loads(j.to_state().model_dump_json())
    raw["delays"], raw["ttl"] = [3, 4], None  # another histogram; no adaptive TTL yet
    again = JoinBuffer(ttl_seconds=900.0, max_pending=60, max_labels=40, min_ttl_seconds=50.0, seed=5)
    again.load_state(LabelJoinState.model_validate(raw))
    assert again.delays == [0] * len(j.delays) and again.n_delays == 0
    assert again.ttl == again.max_ttl == 900.0
    assert (again.n_preds, again.bytes, again.pinned_bytes) == (j.n_preds, j.bytes, j.pinned_bytes)


@cache
def _monitor() -> Monitor:
    """The snapshot scenario's monitor part way: a learned reference, segments, streams, CUSUMs,
    rolling windows, the feature join, the label path and pending requests all hold state."""
    mon = sc.monitor()
    sc.run(mon, sc.records(n=2500)[:8000])
    return mon


def _version(mon: Monitor) -> VersionState:
    return next(v for v in mon.models[sc.FRAUD].versions.values() if v.segments is not None)


def _fresh_segments(segments: SegmentWindows) -> SegmentWindows:
    return SegmentWindows.empty(segments.segments, segments.layout, 0)


def test_segment_windows_round_trip_into_the_configured_groups() -> None:
    segments = _version(_monitor()).segments
    assert segments is not None and any(w.n for w in segments.windows.values())
    stored = segments.to_state().model_dump_json()
    again = _fresh_segments(segments)
    assert again.load_state(SegmentsState.model_validate_json(stored))
    assert again.to_state().model_dump_json() == stored
    assert list(again.windows) == list(segments.windows)
    for key, window in again.windows.items():  # restored unaliased, shaped by the layout
        assert window is not segments.windows[key]
        assert list(window.accumulators) == list(segments.windows[key].accumulators)
    next(iter(again.windows.values())).n += 1
    assert segments.to_state().model_dump_json() == stored


def test_segment_windows_of_another_configuration_start_fresh_and_unconfigured_groups_are_dropped() -> None:
    segments = _version(_monitor()).segments
    assert segments is not None
    raw = json.loads(segments.to_state().model_dump_json())
    fresh = _fresh_segments(segments).to_state()
    other = _fresh_segments(segments)
    assert not other.load_state(SegmentsState.model_validate({**raw, "params": "another"}))
    assert not other.load_state(None)
    assert other.to_state() == fresh
    raw["windows"].append(["region", "mars", raw["windows"][0][2]])
    again = _fresh_segments(segments)
    assert again.load_state(SegmentsState.model_validate(raw))
    assert ("region", "mars") not in again.windows
    assert again.to_state() == segments.to_state()


def test_a_model_monitor_round_trips_into_one_built_from_the_same_configuration() -> None:
    first = _monitor().models[sc.FRAUD]
    stored = first.to_state().model_dump_json()
    second = sc.monitor().models[sc.FRAUD]
    assert second.load_state(ModelMonitorState.model_validate_json(stored))
    assert second.to_state().model_dump_json() == stored
    a = _version(_monitor())
    b = second.versions[a.version]
    assert a.learned and b.learned and b.reference is not None and b.layout is not None
    assert b.window is not a.window and b.streams.keys() == a.streams.keys() and b.policy is not a.policy
    b.policy.history.append(True)
    b.stream_marks[next(iter(b.stream_marks))] += 1
    assert first.to_state().model_dump_json() == stored


def test_a_model_state_of_other_parameters_is_refused_and_unconfigured_detectors_are_dropped() -> None:
    first = _monitor().models[sc.FRAUD]
    raw = json.loads(first.to_state().model_dump_json())
    fresh = sc.monitor().models[sc.FRAUD]
    assert not fresh.load_state(ModelMonitorState.model_validate({**raw, "params": "other"}))
    assert fresh.versions == {}
    version = next(iter(raw["versions"].values()))
    kept = dict(version["streams"])
    version["streams"]["ddm"] = version["streams"]["adwin"]  # not configured
    version["stream_marks"]["ddm"] = 7
    del version["streams"]["kswin"]  # configured, but not in this state: starts fresh
    again = sc.monitor().models[sc.FRAUD]
    assert again.load_state(ModelMonitorState.model_validate(raw))
    restored = next(iter(again.versions.values()))
    assert list(restored.streams) == list(kept) and "ddm" not in restored.stream_marks
    assert restored.streams["kswin"].seen == 0 and restored.streams["adwin"].seen > 0


def test_a_version_still_learning_round_trips_its_rows() -> None:
    mon = sc.monitor()
    sc.run(mon, sc.records(n=2500)[:800])
    model = mon.models[sc.FRAUD]
    learning = [v for v in model.versions.values() if v.learning]
    assert learning and all(v.layout is None for v in learning)
    stored = model.to_state().model_dump_json()
    state = ModelMonitorState.model_validate_json(stored)
    again = sc.monitor().models[sc.FRAUD]
    assert again.load_state(state)
    assert again.to_state().model_dump_json() == stored
    assert [v.learning for v in again.versions.values()] == [v.learning for v in model.versions.values()]
    rows = next(v.learning for v in again.versions.values() if v.learning)
    rows[0]["amount"] = -1.0
    rows.append({})
    assert state.model_dump_json() == stored  # the restored rows are not the state's


def test_the_label_path_round_trips_its_versions_and_join() -> None:
    first = _monitor().outcomes[sc.CREDIT]
    assert first.versions and first.join is not None and first.join.preds
    stored = first.to_state().model_dump_json()
    second = sc.monitor().outcomes[sc.CREDIT]
    assert second.load_state(OutcomeMonitorState.model_validate_json(stored))
    assert second.to_state().model_dump_json() == stored
    assert not sc.monitor().outcomes[sc.CREDIT].load_state(
        OutcomeMonitorState.model_validate({**json.loads(stored), "params": "other"}))
    version = next(iter(second.versions.values()))
    version.marks[next(iter(version.marks))] += 1
    assert first.to_state().model_dump_json() == stored


def test_the_monitor_state_stores_sorted_rows_and_restores_into_the_configured_models() -> None:
    first = _monitor()
    state = first.state()
    raw = json.loads(state.model_dump_json(by_alias=True))
    assert raw["schema"] == 2 and raw["positions"] == sorted(raw["positions"]) and raw["pending"]
    assert list(raw["newest"]) == sorted(raw["newest"]) and raw["learned"][sc.FRAUD]
    raw["positions"].append(["elsewhere", 3, 9])
    raw["routed"] = [["t", 1, sc.FRAUD, 5], ["a", 0, sc.FRAUD, 3]]
    raw["newest"]["unconfigured"] = 1.0
    raw["learned"]["unconfigured"] = {"v1": 1.0}
    raw["learned"][sc.FRAUD] = {f"v{i}": float(i) for i in range(20)}  # more than max_versions
    again = sc.monitor()
    cap = next(s.max_versions for s in sc.specs() if s.model_id == sc.FRAUD)
    assert again.restore(zlib.compress(json.dumps(raw).encode())) == []
    assert again.positions[("elsewhere", 3)] == 9 and again.positions.keys() == {*first.positions, ("elsewhere", 3)}
    assert "unconfigured" not in again.newest and "unconfigured" not in again.learned
    assert again.learned[sc.FRAUD] == {f"v{i}": float(i) for i in range(20 - cap, 20)}
    assert again.pending == first.pending and all(again.pending[k] is not first.pending[k] for k in first.pending)
    assert again.routed == {("t", 1, sc.FRAUD): 5, ("a", 0, sc.FRAUD): 3}
    assert again.state().routed == [("a", 0, sc.FRAUD, 3), ("t", 1, sc.FRAUD, 5)]


def test_the_monitor_state_round_trips_unaliased() -> None:
    first = _monitor()
    blob = first.snapshot()
    again = sc.monitor()
    assert again.restore(blob) == []
    assert again.snapshot() == blob
    again.positions[next(iter(again.positions))] += 1
    again.routed.clear()
    assert first.snapshot() == blob
