"""The versioned snapshot: version-1 fixtures migrate and continue exactly, round trips are
byte-identical and continue identically, and blobs that are not snapshots fail safely."""

from __future__ import annotations

import json
import random
import zlib
from functools import cache

import pytest

from stream_monitor.errors import SnapshotError
from stream_monitor.pipeline import snapshot as snapshot_module
from stream_monitor.pipeline.feature_join import FeatureJoin
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.pipeline.monitor import Monitor, Outcome
from stream_monitor.pipeline.snapshot import SNAPSHOT_SCHEMA, decode_snapshot, migrate_1_to_2
from stream_monitor.pipeline.state import FeatureJoinState
from tests.unit.pipeline import snapshot_scenario as sc
from tests.unit.pipeline.test_seasonality import _events, _reference, _spec


def _decisions(outs: list[Outcome]) -> list[str]:
    """Everything a run decided and reported, in order."""
    return [repr((o.reports, o.requests, o.dead_letters)) for o in outs]


@cache
def _uninterrupted() -> tuple[Monitor, list[Outcome]]:
    mon = sc.monitor()
    return mon, sc.run(mon, sc.records())


def test_the_version_1_fixture_restores_and_continues_as_the_uninterrupted_run() -> None:
    recs, cut = sc.records(), sc.cut()
    whole, outs = _uninterrupted()
    restored = sc.monitor()
    assert restored.restore(sc.V1_FIXTURE.read_bytes()) == []
    rest = sc.run(restored, recs[cut:])
    assert sum(len(o.requests) for o in rest) > 0  # the continued run decides something
    assert _decisions(rest) == _decisions(outs[cut // sc.BATCH:])
    assert restored.snapshot() == whole.snapshot()
    # ... and the old code's own end state, migrated, is the state both runs reach
    assert decode_snapshot(sc.V1_END_FIXTURE.read_bytes()) == whole.state()


def test_the_migration_is_one_step_from_1_to_2() -> None:
    v1 = json.loads(zlib.decompress(sc.V1_FIXTURE.read_bytes()))
    assert v1["schema"] == 1 and SNAPSHOT_SCHEMA == 2
    assert dict(snapshot_module.MIGRATIONS) == {1: migrate_1_to_2}
    v2 = migrate_1_to_2(v1)
    assert v2["schema"] == 2 and v1["schema"] == 1  # the input is not modified
    assert snapshot_module.MonitorState.model_validate(v2) == decode_snapshot(sc.V1_FIXTURE.read_bytes())


def test_old_version_1_snapshots_without_the_later_parts_migrate() -> None:
    v1 = json.loads(zlib.decompress(sc.V1_FIXTURE.read_bytes()))
    for key in ("routed", "newest", "learned", "outcomes"):
        del v1[key]
    for model in v1["models"].values():
        for version in model["versions"].values():
            for key in ("streams", "stream_marks", "healthy", "incarnation", "segments"):
                version.pop(key, None)
            for key in ("history", "marks", "subjects", "incident", "position", "windows"):
                version["policy"].pop(key, None)
    mon = sc.monitor()
    assert mon.restore(zlib.compress(json.dumps(v1).encode())) == []
    version = next(iter(mon.models[sc.FRAUD].versions.values()))
    assert version.policy.history == [True] * version.policy.streak
    assert mon.outcomes[sc.CREDIT].versions == {}
    assert set(mon.learned[sc.FRAUD]) <= set(mon.models[sc.FRAUD].versions)


@pytest.mark.parametrize("seeds", [(21, 5), (22, 6), (23, 7)])
def test_snapshot_round_trip_is_byte_identical_and_continues_identically(seeds: tuple[int, int]) -> None:
    recs = sc.records(*seeds, n=2500)
    batches = len(recs) // sc.BATCH  # a cut in the second half: the reference is learned by then
    cut = random.Random(seeds[0]).randrange(batches // 2, batches) * sc.BATCH
    first = sc.monitor()
    sc.run(first, recs[:cut])
    blob = first.snapshot()
    second = sc.monitor()
    assert second.restore(blob) == []
    assert second.snapshot() == blob
    state = second.to_state()
    assert state["outcomes"][sc.CREDIT]["versions"] and state["models"][sc.FRAUD]["feature_join"]
    fraud = next(iter(state["models"][sc.FRAUD]["versions"].values()))
    assert fraud["segments"]["windows"] and fraud["streams"] and "cusum" in fraud
    assert _decisions(sc.run(first, recs[cut:])) == _decisions(sc.run(second, recs[cut:]))
    assert first.snapshot() == second.snapshot()


@pytest.mark.parametrize("seed", [3, 4])
def test_seasonal_state_round_trips(seed: int) -> None:
    spec, ref = _spec(), _reference(102)
    events = _events(seed, 1.2)
    cut = len(events) // 2 + 77
    first = ModelMonitor(spec, ref)
    first.observe(events[:cut])
    state = first.to_state()
    assert any(v.phases for v in state.versions.values())
    second = ModelMonitor(spec, ref)
    assert second.load_state(type(state).model_validate_json(state.model_dump_json()))
    assert second.to_state().model_dump_json() == state.model_dump_json()
    a, b = first.observe(events[cut:]), second.observe(events[cut:])
    assert repr((a.reports, a.requests)) == repr((b.reports, b.requests))
    assert first.to_state() == second.to_state()


def _blobs() -> list[bytes]:
    good = json.loads(zlib.decompress(sc.V1_FIXTURE.read_bytes()))
    wrong_type = {**good, "positions": "everything"}
    no_models = {k: v for k, v in good.items() if k != "models"}
    return [b"", b"not a snapshot", zlib.compress(b"[1, 2]"), zlib.compress(b"{\"schema\": 99}"),
            zlib.compress(b"{\"schema\": \"2\"}"),
            zlib.compress(json.dumps({**good, "schema": 2, "unknown": 1}).encode()),
            zlib.compress(json.dumps(wrong_type).encode()), zlib.compress(json.dumps(no_models).encode()),
            zlib.compress(json.dumps({**wrong_type, "schema": 2}).encode())]


@pytest.mark.parametrize("blob", _blobs(), ids=lambda b: str(len(b)))
def test_a_blob_that_is_not_a_snapshot_fails_safely(blob: bytes) -> None:
    mon = sc.monitor()
    sc.run(mon, sc.records(n=400)[:400])
    before = mon.snapshot()
    with pytest.raises(SnapshotError) as err:
        mon.restore(blob)
    assert "everything" not in str(err.value)  # no raw values in the message
    assert mon.snapshot() == before  # nothing was half restored


def test_the_feature_join_round_trips_unaliased_and_joins_as_before() -> None:
    join = FeatureJoin(ttl_seconds=60.0, max_pending=100)
    for i in range(6):
        join.add_prediction(f"e{i}", "v1", float(i), [f"g{i % 2}"])
    for i in range(3, 9):
        join.add_features(f"e{i}", "v1" if i < 8 else "v2", float(i), {"x": float(i), "c": "a"})
    stored = join.to_state().model_dump_json()
    assert json.loads(stored)["preds"][0] == ["e0", "v1", 0.0, ["g0"]]
    again = FeatureJoin(ttl_seconds=60.0, max_pending=100)
    again.load_state(FeatureJoinState.model_validate_json(stored))
    assert again.to_state().model_dump_json() == stored
    again.preds[("e0", "v1")][1].append("changed")
    assert join.to_state().model_dump_json() == stored
    assert again.add_features("e1", "v1", 9.0, {"x": 1.0}) == join.add_features("e1", "v1", 9.0, {"x": 1.0})
