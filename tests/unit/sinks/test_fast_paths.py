"""The hot-path shortcuts of issue #6 give exactly what the general code gives.

Each shortcut (one-pass batch validation, C-level column extraction, bulk
histogram observation, the cached reference fingerprint) is checked against
the general path on inputs where the shortcut applies and where it must fall back.
"""

from __future__ import annotations

import importlib
import json
import random

import numpy as np
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from stream_monitor.events.models import BatchEnvelope
from stream_monitor.sinks.prometheus import observe_many
from stream_monitor.sinks.prometheus_families import LAG_BUCKETS
from stream_monitor.tools.traffic import envelope
from stream_monitor.validation import Rejection, decode
from stream_monitor.validation.adapters import ADAPTERS
from stream_monitor.windows.columns import categorical_column, columns_of, numeric_column

decode_module = importlib.import_module("stream_monitor.validation.decode")


def _event(i: int, **over: object) -> bytes:
    e = {"event_id": f"e{i}", "model_id": "m", "model_version": "v1", "timestamp": 1.7e9 + i,
         "features": {"a": float(i), "b": "x", "c": True}, "prediction": 0.5, "score": 0.5}
    e.update(over)
    return json.dumps(e).encode()


def _slow_decode(raw: bytes, kind: str = "prediction") -> list[object]:
    """decode() without its fast adapters (the code path before the shortcuts)."""
    _fast, top, many, one = ADAPTERS[kind]
    parsed = top.validate_json(raw)
    if not isinstance(parsed, BatchEnvelope):
        return [parsed]
    return decode_module._decode_inner(parsed.events, many, one)


def test_batch_fast_path_equals_event_by_event_validation() -> None:
    raws = [_event(i) for i in range(50)] + [_event(99, kind="feature", features={"a": 1.0})]
    raw = envelope(raws)
    assert decode(raw, "prediction", max_bytes=1 << 20) == _slow_decode(raw)
    for r in raws:
        assert decode(r, "prediction", max_bytes=1 << 20) == _slow_decode(r)


def test_single_events_of_any_kind_decode_as_the_tagged_union_does() -> None:
    """The own-kind shortcut for single events must not change what any record becomes."""
    label = json.dumps({"event_id": "e1", "model_id": "m", "timestamp": 1.7e9, "label": 1}).encode()
    feature = json.dumps({"event_id": "e2", "model_id": "m", "model_version": "v1", "timestamp": 1.7e9,
                          "features": {"a": 1.0}}).encode()
    raws = [_event(0), _event(1, kind="prediction"), _event(2, kind="feature", features={"a": 1.0}),
            _event(3, kind="label", label=0), label, feature,
            json.dumps({"kind": "label", **json.loads(label)}).encode(),
            json.dumps({"events": [json.loads(_event(4))], "kind": "batch"}).encode()]  # an envelope tagged last
    compared = 0
    for kind in ("prediction", "feature", "label"):
        for raw in raws:
            try:
                expected = _slow_decode(raw, kind)
            except ValueError:
                continue  # invalid for this topic: the rejection paths are tested in test_decode
            assert decode(raw, kind, max_bytes=1 << 20) == expected, (kind, raw)
            compared += 1
    assert compared >= 18  # every tagged record and envelope on every topic, each untagged one on its own


def test_batch_with_a_bad_event_still_rejects_only_that_event() -> None:
    raws = [_event(0), _event(1, timestamp="yesterday"), _event(2)]
    out = decode(envelope(raws), "prediction", max_bytes=1 << 20)
    assert [type(x).__name__ for x in out] == ["PredictionEvent", "Rejection", "PredictionEvent"]
    assert isinstance(out[1], Rejection) and out[1].index == 1


def test_columns_fast_and_fallback_paths_agree() -> None:
    rows = [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}]
    assert {k: list(v) for k, v in columns_of(rows, ("a", "b")).items()} == {"a": [1.0, 2.0], "b": ["x", "y"]}
    ragged = [{"a": 1.0}, {"b": "y"}]
    assert columns_of(ragged, ("a", "b")) == {"a": [1.0, None], "b": [None, "y"]}
    assert {k: list(v) for k, v in columns_of(rows, ("a",)).items()} == {"a": [1.0, 2.0]}


def test_numeric_and_categorical_columns_match_the_general_loop() -> None:
    rng = random.Random(3)
    pool: list[object] = [1.5, -2.0, None, True, "7", 3.25, "", "x", False, 0.0]
    for _ in range(200):
        values = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
        floats = [v for v in values if type(v) is float]
        good, missing, mismatched = numeric_column(values)
        assert good.tolist() == floats and good.dtype == np.float64
        assert (missing, mismatched) == (values.count(None), len(values) - len(floats) - values.count(None))
        only_float = [v for v in values if type(v) is float]
        assert numeric_column(only_float)[0].tolist() == only_float
        strings = [v for v in values if isinstance(v, str)]
        keys, missing = categorical_column(strings)
        assert list(keys) == [s for s in strings if s] and missing == strings.count("")


def test_observe_many_equals_observing_one_by_one() -> None:
    one, many = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("lag", "x", ["m"], buckets=LAG_BUCKETS, registry=one)
    h2 = Histogram("lag", "x", ["m"], buckets=LAG_BUCKETS, registry=many)
    rng = random.Random(1)
    for _ in range(40):
        values = tuple(rng.choice([0.01, 1.0, 5.0, 86400.0, 1e9, -3.0]) if rng.random() < 0.2
                       else rng.expovariate(0.01) for _ in range(rng.randint(0, 200)))
        for v in values:
            h1.labels("a").observe(v)
        observe_many(h2.labels("a"), values)

    def lines(r: CollectorRegistry) -> list[str]:
        return [ln for ln in generate_latest(r).decode().splitlines() if "_created" not in ln]

    assert lines(one) == lines(many)


def test_fingerprint_is_cached_per_instance_and_follows_copies() -> None:
    from stream_monitor.windows.profile import CategoricalProfile, ReferenceProfile

    ref = ReferenceProfile(model_id="m", source="s", rows=3,
                           features={"b": CategoricalProfile(categories=("x",), counts=(3,))})
    first = ref.fingerprint()
    assert ref.fingerprint() == first
    assert ref.model_copy().fingerprint() == first
    assert ref.model_copy(update={"rows": 4}).fingerprint() != first
    assert ref == ref.model_copy()


def test_features_read_once_give_the_same_window_and_increments(demo_spec, demo_reference) -> None:  # type: ignore[no-untyped-def]
    """The windows and the CUSUMs share one read of the features; each alone reads the same."""
    from stream_monitor.events.models import PredictionEvent
    from stream_monitor.pipeline.sequential import event_increments, sequential_layout
    from stream_monitor.tools.simulate import Scenario, generate
    from stream_monitor.windows.columns import feature_columns
    from stream_monitor.windows.window import Window, WindowLayout

    events = [PredictionEvent.model_validate(e) for e in generate(Scenario(kind="abrupt", change_at=150, seed=4), 300)]
    first = events[0].features or {}
    name = next(iter(first))
    events[10] = events[10].model_copy(update={"features": {k: v for k, v in first.items() if k != name}})  # missing
    events[20] = events[20].model_copy(update={"features": {**first, name: "text"}})  # mistyped
    layout = WindowLayout.build(demo_spec, demo_reference)
    cusum = sequential_layout(demo_spec, demo_reference)
    assert cusum is not None
    columns = feature_columns(events, layout.names)
    assert columns is not None and all(len(c) == len(events) for c in columns.values())
    shared, alone = Window.empty(0, layout), Window.empty(0, layout)
    for lo, hi in ((0, 7), (7, 180), (180, 300)):  # cut as window boundaries cut a batch
        shared.add(events[lo:hi], layout, {n: c[lo:hi] for n, c in columns.items()})
        alone.add(events[lo:hi], layout)
    assert shared.to_state().model_dump_json() == alone.to_state().model_dump_json()
    kind = demo_spec.prediction.type
    assert np.array_equal(event_increments(cusum, events, kind, columns), event_increments(cusum, events, kind))
    assert feature_columns([*events, events[0].model_copy(update={"features": None})], layout.names) is None


def test_values_binned_once_give_the_same_window_and_increments(demo_spec, demo_reference) -> None:  # type: ignore[no-untyped-def]
    """Bins found once per batch (float columns with NaN and inf, string columns with
    unseen categories, the predictions) give what each consumer finds alone; columns
    that need checking (a string among floats, an empty category) are binned by each."""
    from stream_monitor.events.models import PredictionEvent
    from stream_monitor.pipeline.sequential import event_increments, sequential_layout
    from stream_monitor.tools.simulate import Scenario, generate
    from stream_monitor.windows.accumulators import Binning, bin_columns
    from stream_monitor.windows.columns import feature_columns, float_arrays, prediction_values
    from stream_monitor.windows.profile import PREDICTION
    from stream_monitor.windows.window import Window, WindowLayout

    events = [PredictionEvent.model_validate(e) for e in generate(Scenario(kind="abrupt", change_at=150, seed=4), 300)]
    layout = WindowLayout.build(demo_spec, demo_reference)
    (num, _), (other, _) = layout.numeric[0], layout.numeric[1]
    (cat, _), (cat2, _) = layout.categorical[0], layout.categorical[-1]

    def patch(i: int, **values: object) -> None:
        events[i] = events[i].model_copy(update={"features": {**(events[i].features or {}), **values}})

    for i, v in ((3, float("nan")), (4, float("inf")), (5, -float("inf")), (6, 1e300)):
        patch(i, **{num: v})
    patch(7, **{cat: "never seen"})
    patch(8, **{other: "text"})
    patch(9, **{cat2: ""})
    events[11] = events[11].model_copy(update={"score": float("nan")})
    cusum = sequential_layout(demo_spec, demo_reference)
    assert cusum is not None
    raw = feature_columns(events, layout.names)
    assert raw is not None
    columns = float_arrays(raw, [n for n, _ in layout.numeric])
    predictions = float_arrays({PREDICTION: prediction_values(events, layout.prediction_type)}, [PREDICTION])
    bins = bin_columns((*layout.numeric, *layout.categorical), columns)
    assert layout.prediction is not None
    bins.update(bin_columns([(PREDICTION, layout.prediction)], predictions))
    assert num in bins and cat in bins and PREDICTION in bins and other not in bins and cat2 not in bins
    shared, alone = Window.empty(0, layout), Window.empty(0, layout)
    for lo, hi in ((0, 7), (7, 180), (180, 300)):  # cut as window boundaries cut a batch
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN in the moments, alike on both paths
            shared.add(events[lo:hi], layout, {n: c[lo:hi] for n, c in columns.items()},
                       {n: (b, x[lo:hi]) for n, (b, x) in bins.items()}, predictions[PREDICTION][lo:hi])
            alone.add(events[lo:hi], layout)
    assert shared.to_state().model_dump_json() == alone.to_state().model_dump_json()
    kind = demo_spec.prediction.type
    expected = event_increments(cusum, events, kind)
    assert np.array_equal(event_increments(cusum, events, kind, columns, predictions[PREDICTION], bins), expected)
    # bins of another binning are not used
    foreign = {n: (Binning(edges=np.array([0.0]), index={"x": 0}), np.zeros(len(events), dtype=np.int64))
               for n in bins}
    assert np.array_equal(event_increments(cusum, events, kind, columns, predictions[PREDICTION], foreign), expected)
    again = Window.empty(0, layout)
    with np.errstate(over="ignore", invalid="ignore"):
        again.add(events, layout, columns, foreign, predictions[PREDICTION])
    assert again.to_state().model_dump_json() == alone.to_state().model_dump_json()


def test_increments_of_streams_out_of_order_land_in_their_columns(demo_spec, demo_reference) -> None:  # type: ignore[no-untyped-def]
    """Streams that are not a run of consecutive columns are written one by one, where they belong."""
    import dataclasses

    from stream_monitor.events.models import PredictionEvent
    from stream_monitor.pipeline.sequential import sequential_layout
    from stream_monitor.tools.simulate import Scenario, generate
    from stream_monitor.windows.columns import feature_columns, prediction_values

    events = [PredictionEvent.model_validate(e) for e in generate(Scenario(kind="abrupt", change_at=50, seed=5), 120)]
    name = next(iter(events[0].features or {}))
    events[4] = events[4].model_copy(update={"features": {**(events[4].features or {}), name: None}})
    layout = sequential_layout(demo_spec, demo_reference)
    assert layout is not None and layout.pairs
    columns = feature_columns(events, layout.input_names)
    assert columns is not None
    predictions = prediction_values(events, demo_spec.prediction.type)
    order = np.arange(len(layout.streams))[::-1]  # stream j is written to column order[j]
    moved = dataclasses.replace(
        layout, inputs=tuple(dataclasses.replace(i, cols=order[i.cols]) for i in layout.inputs),
        pairs=tuple(dataclasses.replace(p, cols=order[p.cols]) for p in layout.pairs),
        residuals=tuple(dataclasses.replace(p, cols=order[p.cols]) for p in layout.residuals))
    expected = layout.increments(columns, predictions, len(events))
    assert np.array_equal(moved.increments(columns, predictions, len(events))[:, order], expected)
