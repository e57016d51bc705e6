"""Hypothesis fuzzing of columnar envelopes through the monitor: nothing raises, nothing
escapes (every row is processed or dead-lettered once, with a known reason), no input
string reaches a message, and a row is accepted exactly when the same row sent as a
row event is."""

from __future__ import annotations

import contextlib
import copy
import functools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_monitor.config.references import build_profile
from stream_monitor.events import PredictionEvent
from stream_monitor.events.envelope import encode_columns
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, demo_model_config, generate, reference_rows
from stream_monitor.validation import REASON_CODES, Rejection, decode
from tests.conftest import make_monitor, records

MARK = "zq"
N = 5
texts = st.text(min_size=0, max_size=8).map(lambda s: MARK + s)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(texts, inner, max_size=3)), max_leaves=6)
CELLS = [("event_id",), ("timestamp",), ("prediction",), ("score",), ("latency_ms",), ("features", "amount"),
         ("features", "country"), ("attributes", "region")]
cell_edits = st.lists(st.tuples(st.sampled_from(CELLS), st.integers(0, N - 1), values), max_size=6)


def _base() -> dict[str, Any]:
    models = [PredictionEvent.model_validate(e) for e in generate(Scenario(seed=11), N)]
    raw = encode_columns(models)
    assert raw is not None
    return json.loads(raw)


BASE = _base()


@functools.cache
def _spec_and_reference() -> tuple[Any, Any]:
    spec = ModelSpec.model_validate(demo_model_config())
    return spec, build_profile(spec, reference_rows(5_000, seed=1), source="fuzz reference")


def _monitor() -> Monitor:
    return make_monitor(*_spec_and_reference())


def _column(doc: dict[str, Any], path: tuple[str, ...]) -> list[Any]:
    target: Any = doc
    for part in path:
        target = target[part]
    return target  # type: ignore[no-any-return]


def _row(doc: dict[str, Any], i: int) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": "prediction", "model_id": doc["model_id"], "model_version": doc["model_version"]}
    for name in ("event_id", "timestamp", "prediction", "score", "latency_ms"):
        if doc[name][i] is not None:
            row[name] = doc[name][i]
    for name in ("features", "attributes"):
        row[name] = {k: v[i] for k, v in doc[name].items() if v[i] is not None}
    return row


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True, separators=(",", ":")).encode()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell_edits)
def test_bad_cells_refuse_their_rows_alone_and_as_a_row_event_would(
    edits: list[tuple[tuple[str, ...], int, Any]]) -> None:
    doc = copy.deepcopy(BASE)
    for path, i, value in edits:
        _column(doc, path)[i] = value
    out = _monitor().observe(records([_dumps(doc)]), now=2e9)
    dead = {d.index: d for d in out.dead_letters}
    assert len(dead) == len(out.dead_letters) and None not in dead  # one per row, each with its index
    assert sum(out.consumed.values()) + len(dead) == N  # nothing escapes, nothing counted twice
    for d in out.dead_letters:
        assert d.reason in REASON_CODES and MARK not in d.message and d.payload is not None
    for i in range(N):
        alone = decode(_dumps(_row(doc, i)), "prediction", max_bytes=1 << 20)
        assert isinstance(alone[0], Rejection) == (i in dead), f"row {i}"


structural = st.one_of(
    st.tuples(st.sampled_from(["event_id", "timestamp", "prediction", "score", "features", "attributes",
                               "model_id", "model_version", "kind", "event_kind", "label"]), values),
    st.tuples(st.just("truncate"), st.sampled_from(CELLS)),
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(structural, min_size=1, max_size=3), st.sampled_from(["prediction", "feature", "label"]))
def test_broken_envelopes_are_refused_whole_or_row_by_row_never_lost(
    edits: list[tuple[Any, Any]], kind: str) -> None:
    doc = copy.deepcopy(BASE)
    for what, arg in edits:
        if what == "truncate":
            with contextlib.suppress(KeyError, TypeError, AttributeError, IndexError):
                _column(doc, arg).pop()  # unless an earlier edit replaced the column
        else:
            doc[what] = arg
    raw = _dumps(doc)
    items = decode(raw, kind, max_bytes=1 << 20)  # type: ignore[arg-type]
    for item in items:
        if isinstance(item, Rejection):
            assert item.reason in REASON_CODES and MARK not in item.message
    rec = records([raw], kind=kind)
    out = _monitor().observe(rec, now=2e9)
    accounted = sum(out.consumed.values()) + len(out.dead_letters)
    whole = len(items) == 1 and isinstance(items[0], Rejection) and items[0].index is None
    assert accounted == (1 if whole else len(items))
    if not whole:  # refused row by row: one item per row
        assert isinstance(doc.get("event_id"), list) and len(items) == len(doc["event_id"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_bytes_after_the_columnar_prefix_never_raise(tail: bytes) -> None:
    for item in decode(b'{"kind":"columns"' + tail, "prediction", max_bytes=10_000):
        assert isinstance(item, Rejection | PredictionEvent)
        if isinstance(item, Rejection):
            assert item.reason in REASON_CODES
