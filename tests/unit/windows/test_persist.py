"""The generic state codec: every persisted window-layer object round-trips through its model
and JSON, equal and unaliased, and the stored JSON keeps its version-2 shape."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator
from stream_monitor.windows.embedding import EmbeddingAccumulator
from stream_monitor.windows.outcome_windows import Estimate, PairWindow, PredictionWindow
from stream_monitor.windows.persist import Persistent
from stream_monitor.windows.window import Window


def _numeric(rng: np.random.Generator) -> NumericAccumulator:
    return NumericAccumulator(rng.integers(0, 50, 12), 3, 1, 2, 4, float(rng.normal()), float(rng.random()))


def _pair(rng: np.random.Generator) -> PairWindow:
    w = PairWindow.empty(7, "binary", {"region": ["eu", "us"]}, bins=10, max_classes=5)
    for _ in range(50):
        score = float(rng.random())
        w.performance.add_binary(score > 0.5, score, bool(rng.random() < 0.5))
        w.estimate.add(score, score > 0.5)
        w.groups["region"].add("eu" if rng.random() < 0.3 else "us", positive=score > 0.5)
        w.touch(float(rng.random() * 100))
    return w


def _prediction(rng: np.random.Generator) -> PredictionWindow:
    w = PredictionWindow.empty(3, {"region": ["eu", "us"]}, bins=10)
    for i in range(40):
        score = float(rng.random())
        w.add(float(i), ["eu" if i % 3 else "us"], score > 0.5, score)
        w.add_estimate(score, score > 0.5)
    return w


def _objects(seed: int) -> list[Persistent[Any]]:
    rng = np.random.default_rng(seed)
    emb = EmbeddingAccumulator(rng.integers(-(2**40), 2**40, 8), 17)
    num, cat = _numeric(rng), CategoricalAccumulator(rng.integers(0, 9, 5), 0, 2)
    window = Window(4, {"amount": num, "country": cat}, _numeric(rng), 31, 1.0, 2.0, 3.0, emb)
    est = Estimate(10)
    for s in rng.random(30):
        est.add(float(s), bool(s > 0.4))
    return [num, cat, emb, window, est, _prediction(rng), _pair(rng)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if hasattr(a, "__slots__") and not isinstance(a, str | int | float):
        names = [n for c in type(a).__mro__ for n in getattr(c, "__slots__", ())]
        return type(a) is type(b) and all(_same(getattr(a, n), getattr(b, n)) for n in names)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_persisted_object_round_trips_through_json(seed: int) -> None:
    for obj in _objects(seed):
        state = obj.to_state()
        again = type(state).model_validate_json(state.model_dump_json())
        assert again == state
        assert _same(type(obj).from_state(again), obj), type(obj).__name__


def test_state_and_restored_objects_do_not_alias_the_live_ones() -> None:
    pair = _pair(np.random.default_rng(5))
    state = pair.to_state()
    before = state.model_dump_json()
    pair.performance.confusion.clear()
    pair.groups["region"].add("eu", positive=True)
    pair.estimate.pos[0] += 100.0
    assert state.model_dump_json() == before
    restored = PairWindow.from_state(state)
    restored.groups["region"].add("us", positive=False)
    restored.estimate.neg[0] += 1.0
    assert state.model_dump_json() == before


def test_the_stored_json_keeps_the_version_2_shape() -> None:
    pair = _pair(np.random.default_rng(9))
    stored = json.loads(pair.to_state().model_dump_json())
    assert isinstance(stored["estimate"], list) and len(stored["estimate"]) == 6  # a positional row
    perf = stored["performance"]
    assert perf["ll"] == [pair.performance.ll_n, pair.performance.ll_sum, pair.performance.ll_sq]
    window = json.loads(_objects(1)[3].to_state().model_dump_json())
    assert set(window["features"]) == {"amount", "country"}
    assert isinstance(window["features"]["amount"]["counts"], list)


def test_every_field_marker_reaches_the_built_models() -> None:
    # pydantic drops a field's metadata when the model is first built before a name in its
    # annotation exists (e.g. a Revive function defined below the model): compare what the
    # annotations say with what the built models carry.
    import inspect
    import typing

    from pydantic import BaseModel

    from stream_monitor.detectors import state as detector_state
    from stream_monitor.pipeline import snapshot as snapshot_state
    from stream_monitor.pipeline import state as pipeline_state
    from stream_monitor.windows import state as window_state
    from stream_monitor.windows.persist import Configured, Fixed, From, Revive

    checked = 0
    for module in (window_state, detector_state, pipeline_state, snapshot_state):
        for _, model in inspect.getmembers(module, inspect.isclass):
            if not issubclass(model, BaseModel) or model.__module__ != module.__name__:
                continue
            hints = typing.get_type_hints(model, include_extras=True)
            for name, info in model.model_fields.items():
                markers = From | Revive | Fixed | Configured
                declared = [m for m in getattr(hints[name], "__metadata__", ()) if isinstance(m, markers)]
                built = [m for m in info.metadata if isinstance(m, markers)]
                assert len(built) == len(declared), (model.__name__, name)
                checked += len(declared)
    assert checked >= 50


def test_mapping_forms_store_rows_values_and_key_order_and_restore_unaliased() -> None:
    from typing import Annotated

    from pydantic import BaseModel

    from stream_monitor.windows.persist import Configured, Fixed, assign, capture
    from stream_monitor.windows.persist_mappings import SortedKeys, as_rows, as_values

    class Request(BaseModel):
        request_id: str
        n: int

    class QueueState(BaseModel):
        version: Annotated[int, Fixed()] = 7
        waiting: Annotated[list[tuple[str, str, float, list[int]]], as_rows(2, nested=True)]
        marks: Annotated[list[tuple[str, int]], as_rows(1, single=True, sort=True)]
        pending: Annotated[list[Request], as_values("request_id")]
        seen: Annotated[dict[str, dict[str, float]], SortedKeys]
        counts: Annotated[dict[str, int], Configured()]

    class Queue:
        def __init__(self) -> None:
            self.waiting: dict[str, dict[str, list[Any]]] = {"e2": {"v1": [2.0, [1]]}, "e1": {"v2": [1.0, []]}}
            self.marks = {"b": 2, "a": 1}
            self.pending = {"r1": Request(request_id="r1", n=1)}
            self.seen = {"m": {"y": 1.0, "x": 2.0}, "a": {}}
            self.counts = {"configured": 1, "also": 2}

    live = Queue()
    state = capture(QueueState, live)
    stored = json.loads(state.model_dump_json())
    assert stored == {"version": 7, "waiting": [["e2", "v1", 2.0, [1]], ["e1", "v2", 1.0, []]],
                      "marks": [["a", 1], ["b", 2]], "pending": [{"request_id": "r1", "n": 1}],
                      "seen": {"a": {}, "m": {"x": 2.0, "y": 1.0}}, "counts": {"configured": 1, "also": 2}}
    live.waiting["e2"]["v1"][1].append(5)
    assert state.waiting[0][3] == [1]  # the state does not alias the live object

    again = Queue()
    again.waiting, again.marks, again.pending, again.seen = {}, {}, {}, {}
    again.counts = {"configured": 0, "new": 0}
    assign(again, QueueState.model_validate_json(state.model_dump_json()))
    assert again.waiting == {"e2": {"v1": [2.0, [1]]}, "e1": {"v2": [1.0, []]}}
    assert again.marks == {"a": 1, "b": 2} and again.pending == {"r1": Request(request_id="r1", n=1)}
    assert again.seen == {"a": {}, "m": {"x": 2.0, "y": 1.0}}
    assert again.counts == {"configured": 1, "new": 0}  # configured keys only
    assert not hasattr(again, "version")
    again.waiting["e1"]["v2"][1].append(3)
    assert state.waiting[1][3] == []  # nor does the restored object alias the state
