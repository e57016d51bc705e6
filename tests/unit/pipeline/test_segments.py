"""Per-segment drift and the feature-event join (issue #4).

Segment scenario: the demo model's stationary stream with ``region`` drawn at
random (south 20 %, independent of the inputs, so each region's inputs follow
the reference); from ``change_at`` on, the ``amount`` of south events is
multiplied by e^0.3 (a third of a standard deviation of log-amount). Diluted to a
fifth of the traffic the overall shift stays below the overall thresholds,
while the south segment's reading fires. The stationary twin stays quiet.
"""

from __future__ import annotations

import json
import random
import zlib
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from stream_monitor.pipeline.feature_join import FeatureJoin
from stream_monitor.pipeline.monitor import Monitor, Outcome, SourceRecord
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import make_monitor, records

MODEL = "fraud-detector"
SEGMENT = "amount@region=south"


def _spec(base: ModelSpec, *, window: int = 2000, include: bool = False, join: dict[str, Any] | None = None,
          segments: dict[str, list[str]] | None = None, sequential: bool = True) -> ModelSpec:
    data = base.model_dump(mode="json")
    data["window"] = {"events": window}
    data["detectors"]["sequential"]["enabled"] = sequential
    data["segments"] = {"region": ["north", "south"]} if segments is None else segments
    data["retrain"] = {**data["retrain"], "include_segments": include}
    if join is not None:
        data["feature_join"] = join
    return ModelSpec.model_validate(data)


def _segment_stream(n: int, *, change_at: int | None, seed: int = 5, south: float = 0.2) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i, e in enumerate(generate(Scenario(seed=seed), n)):
        region = "south" if rng.random() < south else "north"
        feats = dict(e["features"])
        if change_at is not None and i >= change_at and region == "south":
            feats["amount"] = round(feats["amount"] * float(np.exp(0.3)), 2)
        out.append({**e, "features": feats, "attributes": {"region": region}})
    return out


def _readings(outcome: Outcome) -> list[Any]:
    return [r for rep in outcome.reports for r in rep.readings]


# -- per-segment drift ---------------------------------------------------------------------


def test_diluted_shift_fires_only_in_its_segment(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(_spec(demo_spec), demo_reference)
    out = mon.observe(records(_segment_stream(12_000, change_at=6000)), now=0)
    assert len(out.reports) == 6
    before, after = out.reports[:3], out.reports[3:]
    for rep in after:
        fired = {r.feature for r in rep.readings if r.drift}
        assert SEGMENT in fired, fired  # the segment's shift is detected, and named
        assert "amount" not in fired  # overall it is diluted below the thresholds
        assert not any(f.endswith("@region=north") for f in fired)
        # segments are reported but do not count towards the model decision by default
        assert not rep.model_drift and rep.drifted == ()
        south = [r for r in rep.readings if r.feature == SEGMENT and r.detector == "ks"][0]
        overall = [r for r in rep.readings if r.feature == "amount" and r.detector == "ks"][0]
        assert 300 <= south.n <= 500 and overall.n == 2000
        assert south.effect is not None and overall.effect is not None and south.effect > 2.5 * overall.effect
    assert not any(r.drift for rep in before for r in rep.readings)
    assert not out.requests
    # one multiple-testing correction over every p-value test of the window, segments included
    rep = after[0]
    n_pvalue = sum(r.p_value is not None for r in rep.readings)
    assert {r.threshold for r in rep.readings if r.p_value is not None} == {0.01 / n_pvalue}
    assert any("@" in r.feature for r in rep.readings if r.p_value is not None)


def test_stationary_twin_stays_quiet(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(_spec(demo_spec, include=True), demo_reference)
    out = mon.observe(records(_segment_stream(12_000, change_at=None)), now=0)
    assert len(out.reports) == 6
    assert not [(r.feature, r.detector) for r in _readings(out) if r.drift]
    assert not out.requests
    assert {r.feature for r in _readings(out)} >= {SEGMENT, "amount@region=north", "__prediction__@region=south"}


def test_segments_count_towards_retrain_only_when_included(demo_spec: ModelSpec,
                                                           demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(_spec(demo_spec, include=True), demo_reference)
    out = mon.observe(records(_segment_stream(12_000, change_at=6000)), now=0)
    assert out.reports[3].drifted == (SEGMENT,) and out.reports[3].model_drift
    assert len(out.requests) == 1 and out.requests[0].reasons[0].feature == SEGMENT


def test_small_segments_are_insufficient(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    # south is 5 % of 2000 events: about 100 < min_samples (200), so it never fires
    mon = make_monitor(_spec(demo_spec), demo_reference)
    out = mon.observe(records(_segment_stream(8000, change_at=0, south=0.05)), now=0)
    assert not any("region=south" in r.feature for r in _readings(out))
    assert any("region=north" in r.feature for r in _readings(out))


def test_segment_readings_are_exported_as_feature_labels(demo_spec: ModelSpec,
                                                         demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(_spec(demo_spec), demo_reference)
    mon.observe(records(_segment_stream(8000, change_at=2000)), now=0)
    registry = CollectorRegistry()
    MonitorMetrics(registry, lambda: [mon])
    text = generate_latest(registry).decode()
    assert f'stream_monitor_feature_drift{{detector="ks",feature="{SEGMENT}",model="{MODEL}",version="v1"}} 1.0' \
        in text


def test_segment_windows_survive_snapshots(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    spec = _spec(demo_spec)
    events = _segment_stream(9000, change_at=3000)
    straight = make_monitor(spec, demo_reference)
    a = straight.observe(records(events), now=0)
    first = make_monitor(spec, demo_reference)
    b1 = first.observe(records(events[:4321]), now=0)
    second = make_monitor(spec, demo_reference)
    assert second.restore(first.snapshot()) == []
    b2 = second.observe(records(events[4321:], start=4321), now=0)
    assert [r.readings for r in a.reports] == [r.readings for r in (*b1.reports, *b2.reports)]
    assert straight.to_state() == second.to_state()
    json.dumps(straight.to_state())  # JSON-serialisable, bounded by the configured groups
    assert len(straight.to_state()["models"][MODEL]["versions"]["v1"]["segments"]["windows"]) == 3


def test_snapshots_from_before_segments_still_restore(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    events = _segment_stream(3500, change_at=None)
    old = make_monitor(demo_spec, demo_reference)  # no segments: what an older worker wrote
    old.observe(records(events[:2500]), now=0)
    blob = old.snapshot()
    state = json.loads(zlib.decompress(blob))
    assert "segments" not in state["models"][MODEL]["versions"]["v1"] and "feature_join" not in state["models"][MODEL]
    spec = demo_spec.model_copy(update={"segments": {"region": ["north", "south"]}})
    new = make_monitor(spec, demo_reference)
    assert new.restore(blob) == []  # the drift state is kept, not reset
    vs = new.models[MODEL].versions["v1"]
    assert vs.window is not None and vs.window.n == 500 and vs.segments is not None
    assert all(w.n == 0 and w.index == vs.window.index for w in vs.segments.windows.values())
    out = new.observe(records(events[2500:], start=2500), now=0)
    assert [r.window.index for r in out.reports] == [2]  # segment windows restarted mid-window
    assert not any("region=south" in r.feature for r in out.reports[0].readings)  # ~100 < min_samples
    south, north = vs.segments.windows[("region", "south")], vs.segments.windows[("region", "north")]
    assert south.index == north.index == 3 and south.n + north.n == 500


def test_segment_config_is_validated(demo_spec: ModelSpec) -> None:
    data = demo_spec.model_dump(mode="json")
    for bad in ({"region": ["north", "other"]}, {"region": ["a", "a"]}, {"region": []}, {"bad name": ["a"]}):
        with pytest.raises(ValueError):
            ModelSpec.model_validate({**data, "segments": bad})
    assert demo_spec.params_hash() == demo_spec.model_copy(update={"segments": {"region": ["x"]}}).params_hash()


# -- the feature join ----------------------------------------------------------------------


def _split(events: list[dict[str, Any]], *, seed: int, missing: float, orphans: int
           ) -> tuple[list[SourceRecord], set[str], list[str]]:
    """Predictions without features and their feature events, interleaved with jitter.

    Returns the records, the ids whose features come, and the ids of orphan feature events.
    """
    rnd = random.Random(seed)
    arrivals: list[tuple[float, str, dict[str, Any]]] = []
    joined: set[str] = set()
    for i, e in enumerate(events):
        arrivals.append((i, "prediction", {k: v for k, v in e.items() if k != "features"}))
        if rnd.random() >= missing:
            joined.add(e["event_id"])
            fe = {"event_id": e["event_id"], "model_id": MODEL, "model_version": e["model_version"],
                  "timestamp": e["timestamp"], "features": e["features"]}
            arrivals.append((i + rnd.uniform(-30, 30), "feature", fe))  # some before their prediction
    orphan_ids = []
    for k in range(orphans):
        e = events[rnd.randrange(len(events))]
        orphan_ids.append(f"orphan-{k}")
        arrivals.append((rnd.uniform(0, len(events)), "feature",
                         {"event_id": f"orphan-{k}", "model_id": MODEL, "model_version": "v1",
                          "timestamp": e["timestamp"], "features": e["features"]}))
    arrivals.sort(key=lambda a: a[0])
    offsets = {"prediction": 0, "feature": 0}
    recs = []
    for _, kind, ev in arrivals:
        topic = "model-predictions" if kind == "prediction" else "model-features"
        recs.append(SourceRecord(kind, to_json(ev), topic, 0, offsets[kind], MODEL.encode()))  # type: ignore[arg-type]
        offsets[kind] += 1
    return recs, joined, orphan_ids


def _window_state(mon: Monitor) -> dict[str, Any]:
    v = mon.to_state()["models"][MODEL]["versions"]["v1"]
    return {"window": v["window"], "segments": v["segments"]}


def _assert_same(a: Any, b: Any) -> None:
    """Equal, floats up to summation order (moments are summed in batches)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12)
    else:
        assert a == b


@pytest.mark.parametrize("seed", [1, 2])
def test_joined_feature_events_equal_inline_features(demo_spec: ModelSpec, demo_reference: ReferenceProfile,
                                                     seed: int) -> None:
    join = {"ttl_seconds": 60.0, "max_pending": 1000}
    # Window tests only: the south segment's shift is real, and a CUSUM alarm would close the
    # window early, at the event whose features complete the evidence, which joined features
    # reach later than inline ones. The windows compared here must end at the same event.
    spec = _spec(demo_spec, window=10_000, join=join, sequential=False)
    events = _segment_stream(3000, change_at=1000, seed=seed)
    recs, joined, orphans = _split(events, seed=seed, missing=0.1, orphans=25)
    mon = make_monitor(spec, demo_reference)
    outs = [mon.observe(recs[i:i + 250], now=0) for i in range(0, len(recs), 250)]
    # the same predictions with their features inline, only for the events whose features came
    inline = make_monitor(spec, demo_reference)
    inline.observe(records([e if e["event_id"] in joined else {k: v for k, v in e.items() if k != "features"}
                            for e in events]), now=0)
    _assert_same(_window_state(mon), _window_state(inline))
    assert mon.models[MODEL].versions["v1"].segments.windows[("region", "south")].accumulators["amount"].n > 0  # type: ignore[union-attr]
    # the remaining ones wait; a later event ends their TTL and every count is exact
    late = {**events[-1], "event_id": "late", "timestamp": events[-1]["timestamp"] + 3600}
    end = mon.observe([SourceRecord("prediction", to_json(late), "model-predictions", 0,
                                    mon.positions[("model-predictions", 0)], MODEL.encode())], now=0)
    counts = [o.feature_join[MODEL] for o in (*outs, end)]
    assert sum(c.joined for c in counts) == len(joined)
    assert sum(sum(c.expired.values()) for c in counts) == len(events) - len(joined)
    assert sum(sum(c.orphaned.values()) for c in counts) == len(orphans)
    assert {k for c in counts for k in (*c.expired, *c.orphaned)} <= {("v1", "ttl")}
    assert sum(c.duplicates for c in counts) == 0


def test_feature_join_is_off_by_default_and_bounded(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    events = _segment_stream(400, change_at=None)
    recs, joined, _ = _split(events, seed=3, missing=0.0, orphans=0)
    plain = make_monitor(demo_spec, demo_reference)  # default: feature events update the window directly
    plain.observe(recs, now=0)
    assert plain.models[MODEL].join is None
    assert plain.models[MODEL].versions["v1"].window.accumulators["amount"].n == 400  # type: ignore[union-attr]
    j = FeatureJoin(ttl_seconds=1e6, max_pending=10)
    for i in range(15):
        j.add_prediction(f"p{i}", "v1", float(i), [])
        j.add_features(f"f{i}", "v1", float(i), {"x": 1.0})
    j.add_features("f14", "v1", 14.0, {"x": 1.0})
    assert len(j.preds) == len(j.feats) == 10
    assert j.drain() == ({("v1", "capacity"): 5}, {("v1", "capacity"): 5}, 1, 0)


def test_feature_join_survives_snapshots(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    spec = _spec(demo_spec, window=1000, join={"ttl_seconds": 60.0, "max_pending": 1000})
    events = _segment_stream(2500, change_at=None, seed=4)
    recs, _, _ = _split(events, seed=4, missing=0.05, orphans=10)
    straight = make_monitor(spec, demo_reference)
    a = [straight.observe(recs[i:i + 300], now=0) for i in range(0, len(recs), 300)]
    first = make_monitor(spec, demo_reference)
    b = [first.observe(recs[i:i + 300], now=0) for i in range(0, 1500, 300)]
    second = make_monitor(spec, demo_reference)
    assert second.restore(first.snapshot()) == []
    b += [second.observe(recs[i:i + 300], now=0) for i in range(1500, len(recs), 300)]
    assert [r.readings for o in a for r in o.reports] == [r.readings for o in b for r in o.reports]
    assert [o.feature_join for o in a] == [o.feature_join for o in b]
    assert straight.to_state() == second.to_state()


def test_feature_join_counts_are_exported(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    spec = _spec(demo_spec, join={"ttl_seconds": 1.0, "max_pending": 100})
    events = _segment_stream(500, change_at=None)
    recs, joined, orphans = _split(events, seed=6, missing=0.1, orphans=5)
    mon = make_monitor(spec, demo_reference)
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry, lambda: [mon])
    outs = [mon.observe(recs[i:i + 100], now=0) for i in range(0, len(recs), 100)]
    for o in outs:
        metrics.observe(o, now=0)
    expired = sum(n for o in outs for n in o.feature_join[MODEL].expired.values())
    orphaned = sum(n for o in outs for n in o.feature_join[MODEL].orphaned.values())
    assert expired >= len(events) - len(joined) - 10 and orphaned >= 1
    got = {(s.name, s.labels.get("reason")): s.value for m in registry.collect() for s in m.samples
           if s.name.startswith("stream_monitor_feature_join") and s.name.endswith("_total")}
    assert sum(v for (n, _), v in got.items() if "expired" in n) == expired
    assert sum(v for (n, _), v in got.items() if "orphaned" in n) == orphaned
    metrics.retire(MODEL, "v1")
    assert not [s for m in registry.collect() for s in m.samples if s.name.startswith("stream_monitor_feature_join")]
