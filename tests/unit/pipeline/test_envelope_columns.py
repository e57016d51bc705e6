"""The windows read a columnar envelope's feature columns as they are: the same outcomes and
state as reading each value back out of its event, on every path where the columns can (or
must not) be used: several envelopes per call, missing values, a missing or extra feature,
a reference learned mid-envelope, versions, segments, a feature join, bad rows, and envelopes
mixed with row envelopes or rows without features."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import stream_monitor.pipeline.monitor as monitor_module
from stream_monitor.events import PredictionEvent
from stream_monitor.events.envelope import encode_columns, encode_rows
from stream_monitor.pipeline.monitor import Monitor, Outcome
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.validation import Rejection, decode
from stream_monitor.validation.column_events import EventBatch
from stream_monitor.windows.columns import joined_columns
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import records


def _stream(n: int, seed: int = 4) -> list[dict[str, Any]]:
    """The abrupt scenario, with missing values, a second version and segment attributes."""
    out = list(generate(Scenario(kind="abrupt", change_at=n // 2, seed=seed), n))
    for i, e in enumerate(out):
        e["attributes"] = {"region": "south" if i % 5 == 0 else "north"}
        if i % 7 == 0:
            del e["features"]["age"]
        if i % 13 == 0:
            e["features"]["unconfigured"] = 1.5  # a feature the model does not configure
    return out


def _columns(events: Sequence[dict[str, Any]], size: int) -> list[bytes]:
    out = []
    for lo in range(0, len(events), size):
        raw = encode_columns([PredictionEvent.model_validate(e) for e in events[lo:lo + size]])
        assert raw is not None
        out.append(raw)
    return out


def _run(spec: ModelSpec, reference: ReferenceProfile | None, values: Sequence[bytes], per_call: int,
         columns: Callable[..., Any]) -> tuple[list[Outcome], dict[str, Any], int]:
    """Outcomes and state of a monitor over ``values``, and in how many model batches the
    windows got the envelope's columns (``columns`` stands in for ``joined_columns``)."""
    given = []

    def counted(runs: Any, n: int) -> Any:
        out = columns(runs, n)
        given.append(out is not None)
        return out

    pytest.MonkeyPatch().setattr(monitor_module, "joined_columns", counted)
    try:
        mon = Monitor([spec], {spec.model_id: reference}, max_message_bytes=1 << 22, max_event_skew_seconds=86_400.0)
        recs = records(values)
        got = [mon.observe(recs[lo:lo + per_call], now=1.8e9) for lo in range(0, len(recs), per_call)]
        return got, mon.to_state(), sum(given)
    finally:
        monitor_module.joined_columns = joined_columns


def _same_either_way(spec: ModelSpec, reference: ReferenceProfile | None, values: Sequence[bytes],
                     per_call: int) -> int:
    """Assert the monitor decides the same with and without the envelope's columns; return in
    how many model batches it used them."""
    got, state, used = _run(spec, reference, values, per_call, joined_columns)
    want, want_state, none = _run(spec, reference, values, per_call, lambda runs, n: None)
    assert none == 0
    assert got == want
    assert state == want_state
    assert sum(len(o.reports) for o in got) > 3
    assert sum(o.unknown_features.get(spec.model_id, 0) for o in got) > 0  # "unconfigured", counted
    return used


def _with(spec: ModelSpec, **update: Any) -> ModelSpec:
    data = spec.model_dump(mode="json")
    data.update(update)
    return ModelSpec.model_validate(data)


def test_the_windows_read_the_envelopes_columns_as_the_events_values(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    events = _stream(9000)
    for e in events[3000:3500] + events[4000:4500]:  # a second version: learned event by event, then whole
        e["model_version"] = "v2"
    for e in events[5000:5500]:  # an envelope without the feature "age" at all
        e["features"].pop("age", None)
    values = _columns(events, 500)
    values[4] = encode_rows([to_json(e) for e in events[2000:2500]])  # a row envelope between them
    # Calls of two envelopes: the ones learning v1 and v2 (taken event by event) and the one with
    # the row envelope read their events; the one of v1 and v2 gets the columns, and its versions
    # read their events.
    assert _same_either_way(demo_spec, demo_reference, values, per_call=2) == len(values) // 2 - 3
    assert _same_either_way(demo_spec, demo_reference, values, per_call=1) == len(values) - 3


def test_a_reference_learned_inside_an_envelope_and_segments(demo_spec: ModelSpec) -> None:
    """The first 1,200 events teach the reference: the third envelope, taken whole, gives its
    first 200 events to the reference and its columns from event 200 on to the windows (the
    slice must line up with the events)."""
    spec = _with(demo_spec, reference={"learn_first_n": 1200}, segments={"region": ["north", "south"]})
    values = _columns(_stream(8000, seed=6), 500)
    assert _same_either_way(spec, None, values, per_call=1) == len(values) - 1  # the first learns v1
    assert _same_either_way(spec, None, values, per_call=3) >= 4


def test_a_feature_join_and_rows_without_features_read_the_events(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    events = _stream(6000, seed=8)
    events[1234]["features"] = {}  # a prediction without features: its envelope has no columns to give
    values = _columns(events, 500)
    assert isinstance(batch := decode(values[2], "prediction", max_bytes=1 << 22), EventBatch)
    assert batch.features is None
    assert isinstance(batch := decode(values[3], "prediction", max_bytes=1 << 22), EventBatch)
    assert batch.features is not None and batch.features["amount"][0] == events[1500]["features"]["amount"]
    # every envelope but the one learning v1 (taken event by event) and the one without features
    assert _same_either_way(demo_spec, demo_reference, values, per_call=1) == len(values) - 2
    joined = _with(demo_spec, feature_join={"ttl_seconds": 60.0, "max_pending": 1000})
    _same_either_way(joined, demo_reference, values, per_call=2)  # given, then set aside by the join


def test_an_envelope_with_a_bad_row_gives_no_columns() -> None:
    events = [PredictionEvent.model_validate(e) for e in _stream(20)]
    raw = encode_columns(events)
    assert raw is not None
    doc = json.loads(raw)
    doc["score"][3] = 7.0  # out of range: row 3 is dead-lettered, the rest processed
    doc["features"]["amount"][5] = {"nested": 1.0}  # a type the column refuses: row 5 too
    items = decode(json.dumps(doc).encode(), "prediction", max_bytes=1 << 20)
    assert len(items) == 20 and not isinstance(items, EventBatch)
    assert [i for i, x in enumerate(items) if isinstance(x, Rejection)] == [3, 5]
    assert isinstance(decode(raw, "prediction", max_bytes=1 << 20), EventBatch)


def test_joined_columns_cover_every_event_once_in_order() -> None:
    a = {"x": [1.0, 2.0], "c": ["p", None]}
    b = {"x": [3.0]}
    assert joined_columns([(0, 2, a), (2, 1, b)], 3) == {"x": [1.0, 2.0, 3.0], "c": ["p", None, None]}
    assert joined_columns([(0, 2, a)], 2) == a
    assert joined_columns([(0, 2, a)], 3) is None  # an event taken on its own after the run
    assert joined_columns([(1, 2, a)], 3) is None  # one before it
    assert joined_columns([(0, 2, a), (3, 1, b)], 4) is None  # one between
    assert joined_columns(None, 2) is None
    assert joined_columns([], 0) is None
