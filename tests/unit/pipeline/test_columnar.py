"""The columnar batch envelope: the same events as rows give the same windows and requests;
a bad row is dead-lettered alone with its index, a broken envelope as a whole."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from stream_monitor.events import PredictionEvent
from stream_monitor.events.envelope import encode_columns, encode_rows
from stream_monitor.events.models import MAX_BATCH_EVENTS, FeatureEvent, LabelEvent
from stream_monitor.pipeline.monitor import Monitor, Outcome
from stream_monitor.pipeline.outcome import Intake
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.tools.simulate_labels import LabelScenario, generate_labelled, label_events, labelled_model_config
from stream_monitor.validation import Rejection, decode
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import make_monitor, records


def _events(n: int, seed: int = 3, kind: str = "abrupt", drop_every: int = 0) -> list[dict[str, Any]]:
    out = list(generate(Scenario(kind=kind, change_at=5000, seed=seed), n))
    if drop_every:  # some events lack a feature (missing values)
        for i, e in enumerate(out):
            if i % drop_every == 0:
                del e["features"]["age"]
    return out


def _columnar(events: Sequence[dict[str, Any]], size: int) -> list[bytes]:
    models = [PredictionEvent.model_validate(e) for e in events]
    out = []
    for lo in range(0, len(models), size):
        raw = encode_columns(models[lo:lo + size])
        assert raw is not None
        out.append(raw)
    return out


def _rows(events: Sequence[dict[str, Any]], size: int) -> list[bytes]:
    return [encode_rows([to_json(e) for e in events[lo:lo + size]]) for lo in range(0, len(events), size)]


def _run(spec: ModelSpec, reference: ReferenceProfile, values: Sequence[bytes], per_call: int) -> tuple[
        list[Outcome], Monitor]:
    mon = make_monitor(spec, reference)
    recs = records(values)
    return [mon.observe(recs[lo:lo + per_call], now=2e9) for lo in range(0, len(recs), per_call)], mon


def _summary(outcomes: Sequence[Outcome]) -> tuple[Any, ...]:
    consumed: dict[Any, int] = {}
    for o in outcomes:
        for k, v in o.consumed.items():
            consumed[k] = consumed.get(k, 0) + v
    reports = [(r.window.index, r.window.events, sorted(r.drifted), r.request_id, r.state)
               for o in outcomes for r in o.reports]
    requests = [(r.request_id, [(x.feature, x.detector, x.value) for x in r.reasons])
                for o in outcomes for r in o.requests]
    return consumed, reports, requests, sum(len(o.dead_letters) for o in outcomes)


def _state(mon: Monitor) -> Any:
    state = mon.to_state()
    del state["positions"]  # record offsets differ: one record per event against one per envelope
    return state


@pytest.mark.parametrize("drop_every", [0, 7])
def test_columnar_envelopes_give_the_windows_and_requests_of_row_events(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile, drop_every: int
) -> None:
    events = _events(9000, drop_every=drop_every)
    rows, row_mon = _run(demo_spec, demo_reference, [to_json(e) for e in events], 1000)
    cols, col_mon = _run(demo_spec, demo_reference, _columnar(events, 500), 2)
    row_envelopes, env_mon = _run(demo_spec, demo_reference, _rows(events, 500), 2)
    expected = _summary(rows)
    assert expected[2], "the abrupt scenario makes requests"
    assert _summary(cols) == expected == _summary(row_envelopes)
    assert _state(col_mon) == _state(row_mon) == _state(env_mon)


def test_the_encoder_round_trips_validated_events() -> None:
    events = [PredictionEvent.model_validate(e) for e in _events(50, drop_every=3)]
    raw = encode_columns(events)
    assert raw is not None and raw.startswith(b'{"kind":"columns"')
    assert decode(raw, "prediction", max_bytes=1 << 20) == events
    assert len(raw) < 0.7 * len(encode_rows([e.model_dump_json(exclude_unset=True).encode() for e in events]))
    feats = [FeatureEvent(event_id=f"f{i}", model_id="m", model_version="v", timestamp=1.7e9 + i,
                          features={"a": float(i)}) for i in range(3)]
    labels = [LabelEvent(event_id=f"l{i}", model_id="m", timestamp=1.7e9 + i, label=bool(i % 2)) for i in range(3)]
    for evs, kind in ((feats, "feature"), (labels, "label")):
        raw = encode_columns(evs)
        assert raw is not None
        assert decode(raw, kind, max_bytes=1 << 20) == evs  # type: ignore[arg-type]


def test_events_that_cannot_share_an_envelope_are_not_encoded() -> None:
    a = PredictionEvent(event_id="a", model_id="m", model_version="v1", timestamp=1.0, prediction=1.0)
    assert encode_columns([a, a.model_copy(update={"model_version": "v2"})]) is None
    assert encode_columns([a.model_copy(update={"scores": {"x": 0.5}})]) is None
    assert encode_columns([]) is None


def _doc(n: int = 6) -> dict[str, Any]:
    return json.loads(_columnar(_events(n, kind="none"), n)[0])


def _bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _observe(demo_spec: ModelSpec, demo_reference: ReferenceProfile, raw: bytes) -> Outcome:
    return make_monitor(demo_spec, demo_reference).observe(records([raw]), now=2e9)


@pytest.mark.parametrize(("column", "row", "value", "reason"), [
    (("features", "amount"), 3, "NaN", "non_finite_value"),
    (("features", "age"), 1, "Infinity", "non_finite_value"),
    (("prediction",), 2, {"x": 1}, "schema_violation"),
    (("timestamp",), 4, "yesterday", "schema_violation"),
    (("timestamp",), 0, -5.0, "schema_violation"),
    (("event_id",), 5, None, "schema_violation"),
    (("event_id",), 1, "", "schema_violation"),
    (("score",), 2, 1.5, "schema_violation"),
    (("score",), 3, True, "schema_violation"),
    (("prediction",), 0, None, "schema_violation"),
    (("features", "country"), 2, [1, 2], "schema_violation"),
])
def test_a_bad_row_is_dead_lettered_alone_with_its_index(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile, column: tuple[str, ...], row: int, value: Any,
    reason: str,
) -> None:
    doc = _doc()
    target = doc
    for part in column[:-1]:
        target = target[part]
    target[column[-1]][row] = "__SENTINEL__" if value in ("NaN", "Infinity") else value
    raw = _bytes(doc)
    if value in ("NaN", "Infinity"):
        raw = raw.replace(b'"__SENTINEL__"', value.encode())
    out = _observe(demo_spec, demo_reference, raw)
    assert [(d.reason, d.index) for d in out.dead_letters] == [(reason, row)]
    assert sum(out.consumed.values()) == 5  # the other rows are processed
    dead = out.dead_letters[0]
    assert dead.payload is not None and json.loads(dead.payload.replace(b"NaN", b"0").replace(b"Infinity", b"0"))
    # the reason names the column kind, never a feature name or a value
    assert "amount" not in dead.message and "country" not in dead.message and "yesterday" not in dead.message


def test_an_unknown_category_is_processed_as_in_a_row(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    doc = _doc()
    doc["features"]["country"][1] = "ZZ-not-seen"
    out = _observe(demo_spec, demo_reference, _bytes(doc))
    assert not out.dead_letters and sum(out.consumed.values()) == 6


def _whole(demo_spec: ModelSpec, demo_reference: ReferenceProfile, raw: bytes) -> str:
    out = _observe(demo_spec, demo_reference, raw)
    assert len(out.dead_letters) == 1 and out.dead_letters[0].index is None and not out.consumed
    return out.dead_letters[0].reason


def test_a_broken_envelope_is_dead_lettered_whole(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    doc = _doc()
    doc["features"]["amount"].pop()
    assert _whole(demo_spec, demo_reference, _bytes(doc)) == "schema_violation"  # length mismatch
    doc = _doc()
    doc["score"].append(0.5)
    assert _whole(demo_spec, demo_reference, _bytes(doc)) == "schema_violation"
    doc = _doc()
    del doc["prediction"]
    assert _whole(demo_spec, demo_reference, _bytes(doc)) == "schema_violation"  # a required column
    doc = _doc()
    doc["features"] = [1.0]
    assert _whole(demo_spec, demo_reference, _bytes(doc)) == "schema_violation"
    doc = _doc()
    doc["event_id"] = []
    assert _whole(demo_spec, demo_reference, _bytes(doc)) == "schema_violation"
    doc = _doc(1)
    doc["event_id"] = [f"e{i}" for i in range(MAX_BATCH_EVENTS + 1)]
    assert _whole(demo_spec, demo_reference, _bytes(doc)) == "batch_too_large"
    raw = _bytes(_doc()).replace(b'"model_id":', b'"model_id":"x","model_id":')
    assert _whole(demo_spec, demo_reference, raw) == "duplicate_key"
    assert _whole(demo_spec, demo_reference, _bytes(_doc())[:-3]) == "invalid_json"


def test_key_order_does_not_matter_and_unknown_models_are_counted_per_row(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    doc = _doc()
    reordered = {k: doc[k] for k in reversed(list(doc))}
    items = decode(_bytes(reordered), "prediction", max_bytes=1 << 20)
    assert items == decode(_bytes(doc), "prediction", max_bytes=1 << 20)
    assert all(isinstance(i, PredictionEvent) for i in items)
    doc["model_id"] = "not-configured"
    out = _observe(demo_spec, demo_reference, _bytes(doc))
    assert [(d.reason, d.index) for d in out.dead_letters] == [("unknown_model", i) for i in range(6)]


def test_a_label_envelope_on_the_label_topic_and_tagged_kinds() -> None:
    raw = _bytes({"kind": "columns", "model_id": "m", "event_id": ["a", "b"], "timestamp": [1.0, 2.0],
                  "label": [True, None]})
    items = decode(raw, "label", max_bytes=1 << 20)
    assert isinstance(items[0], LabelEvent) and items[0].label is True
    assert isinstance(items[1], Rejection) and items[1].index == 1 and items[1].reason == "schema_violation"
    tagged = _bytes({"kind": "columns", "event_kind": "feature", "model_id": "m", "model_version": "v",
                     "event_id": ["a"], "timestamp": [1.0], "features": {"x": [2.0]}})
    assert isinstance(decode(tagged, "prediction", max_bytes=1 << 20)[0], FeatureEvent)


def _one_by_one(mon: Monitor, monkeypatch: pytest.MonkeyPatch) -> Monitor:
    """``mon`` with every envelope taken event by event (the path the whole-envelope intake must equal)."""
    monkeypatch.setattr(mon, "_take_whole", lambda *_: False)
    return mon


def _both_ways(spec: ModelSpec, reference: ReferenceProfile | None, values: Sequence[bytes],
               monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[list[Outcome], list[Outcome], int]:
    """The outcomes with envelopes taken whole where they can be, one by one, and how many were whole."""
    whole = Monitor([spec], {spec.model_id: reference}, max_message_bytes=1 << 22, **kwargs)
    single = _one_by_one(Monitor([spec], {spec.model_id: reference}, max_message_bytes=1 << 22, **kwargs),
                         monkeypatch)
    taken_whole: list[int] = []
    take = whole._take_events
    monkeypatch.setattr(whole, "_take_events",
                        lambda items, b, newest: bool(take(items, b, newest) and taken_whole.append(1) is None))
    recs = records(values)
    got = [whole.observe(recs[lo:lo + 2], now=1.8e9) for lo in range(0, len(recs), 2)]
    want = [single.observe(recs[lo:lo + 2], now=1.8e9) for lo in range(0, len(recs), 2)]
    assert whole.to_state() == single.to_state()
    return got, want, len(taken_whole)


def test_a_whole_envelope_is_taken_as_its_events_one_by_one(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Envelopes of one model and a known version are taken at once; an envelope that mixes
    versions, has an event past the event-time bound or a version still to learn or refused
    falls back to one event at a time. Both give the same outcomes and state."""
    events = _events(6000, drop_every=11)
    events[2200]["model_version"] = "v9"  # a second version, learned inside a row envelope
    events[4600]["timestamp"] = 2.5e9  # past the bound (now 1.8e9 plus a day)
    values = _columnar(events[:2000], 500) + _rows(events[2000:4000], 500) + _columnar(events[4000:], 1000)
    got, want, whole = _both_ways(demo_spec, demo_reference, values, monkeypatch, max_event_skew_seconds=86_400.0)
    assert got == want and whole == len(values) - 3  # the first (learning v1), the one with v9, the one too late
    assert _summary(got)[2], "the abrupt scenario makes requests"
    assert [(d.reason, d.index) for o in got for d in o.dead_letters] == [("timestamp_out_of_range", 600)]
    listed = demo_spec.model_copy(update={"versions": ["v9"]})  # the others are refused, event by event
    got, want, whole = _both_ways(listed, demo_reference, values[4:6], monkeypatch)
    assert got == want and whole == 0 and sum(len(o.dead_letters) for o in got) == 999


def test_a_whole_envelope_reaches_the_label_path_as_its_events(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec.model_validate(labelled_model_config())
    pairs = list(generate_labelled(LabelScenario(kind="representation", change_at=1000, seed=5), 3000))
    values = _columnar([p for p, _ in pairs], 500)
    labels = label_events([p for p, _ in pairs], [t for _, t in pairs], coverage=1.0, duplicate_rate=0.0, seed=5)
    both = values[:3] + [encode_columns([LabelEvent.model_validate(x) for x in labels[:1500]]) or b""] + values[3:]
    recs = [r._replace(kind="label", topic="model-labels", offset=0) if i == 3 else
            r._replace(offset=i - (i > 3)) for i, r in enumerate(records(both))]
    whole = Monitor([spec], {spec.model_id: None}, max_message_bytes=1 << 22)
    single = _one_by_one(Monitor([spec], {spec.model_id: None}, max_message_bytes=1 << 22), monkeypatch)
    got = [whole.observe(recs[lo:lo + 3], now=1.8e9) for lo in range(0, len(recs), 3)]
    want = [single.observe(recs[lo:lo + 3], now=1.8e9) for lo in range(0, len(recs), 3)]
    assert got == want and whole.to_state() == single.to_state()
    assert sum(n for o in got for (_, _, kind), n in o.consumed.items() if kind == "label") == 1500
    assert all(o.outcomes for o in got)  # the label path saw every batch
    # What the intake sorts out of one envelope (a version already learned): equal field by field.
    taken = [Intake(), Intake()]
    for mon, b in zip((Monitor([spec], {spec.model_id: None}, max_message_bytes=1 << 22),
                       _one_by_one(Monitor([spec], {spec.model_id: None}, max_message_bytes=1 << 22), monkeypatch)),
                      taken, strict=True):
        mon.observe(recs[:1], now=1.8e9)
        mon._take(recs[1], b, 1.8e9)
    # Only the whole envelope hands the windows its feature columns, aligned with its events.
    (start, length, columns), = taken[0].columns[spec.model_id]
    assert (start, length, taken[1].columns) == (0, 500, {})
    events = taken[1].per_model[spec.model_id]
    assert all(columns[name] == [e.features.get(name) for e in events] for name in columns)
    taken[0].columns = {}
    assert taken[0] == taken[1] and taken[0].label_at[spec.model_id] == list(range(1, 501))
