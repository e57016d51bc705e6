"""Hypothesis fuzzing of the edge decoder: it never raises, every output is an event or
a rejection with a known reason, and no input string ever reaches a rejection message."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_monitor.events import FeatureEvent, LabelEvent, PredictionEvent
from stream_monitor.validation import REASON_CODES, Rejection, decode

MARK = "zq"  # every generated string carries it, so a leak is easy to see

texts = st.text(min_size=1, max_size=12).map(lambda s: MARK + s)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
                    st.floats(allow_nan=True, allow_infinity=True), texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(texts, inner, max_size=4)),
                           max_leaves=20)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.sampled_from(["prediction", "feature", "label", "batch", MARK]),
        "event_id": st.one_of(texts, json_values),
        "model_id": st.one_of(texts, json_values),
        "model_version": st.one_of(texts, json_values),
        "timestamp": st.one_of(st.floats(allow_nan=True), texts, st.integers(), json_values),
        "features": st.one_of(st.dictionaries(texts, scalars, max_size=5), json_values),
        "prediction": json_values,
        "score": json_values,
        "label": json_values,
        "events": st.lists(json_values, max_size=3),
    },
)


def _check(out: list[Any]) -> None:
    assert out
    for item in out:
        if isinstance(item, Rejection):
            assert item.reason in REASON_CODES
            assert MARK not in item.message
        else:
            assert isinstance(item, PredictionEvent | FeatureEvent | LabelEvent)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from(["prediction", "feature", "label"]))
def test_random_bytes_never_raise(raw: bytes, kind: str) -> None:
    _check(decode(raw, kind, max_bytes=1000))  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_like, st.sampled_from(["prediction", "feature", "label"]))
def test_structured_garbage_never_raises_or_leaks(obj: dict[str, Any], kind: str) -> None:
    raw = json.dumps(obj, allow_nan=True).encode()
    _check(decode(raw, kind, max_bytes=100_000))  # type: ignore[arg-type]
    cut = raw[: len(raw) // 2]
    _check(decode(cut, kind, max_bytes=100_000))  # type: ignore[arg-type]
