"""Validation at the edge: every bad input becomes a typed rejection, never an exception."""

from __future__ import annotations

import json
import pickle

import pytest

from stream_monitor.events import LabelEvent, PredictionEvent
from stream_monitor.validation import REASON_CODES, Rejection, decode

GOOD = {
    "event_id": "e1",
    "model_id": "fraud-detector",
    "model_version": "v1",
    "timestamp": "2026-01-01T00:00:00Z",
    "features": {"amount": 12.5, "country": "DE", "flag": True, "gone": None},
    "prediction": 1,
    "score": 0.7,
}
PII = "jane.doe.canary@example.com"


def _one(raw: bytes | None, kind: str = "prediction") -> PredictionEvent | LabelEvent | Rejection:
    out = decode(raw, kind, max_bytes=10_000)  # type: ignore[arg-type]
    assert len(out) == 1
    return out[0]  # type: ignore[return-value]


def test_valid_prediction_normalises_time_and_types() -> None:
    ev = _one(json.dumps(GOOD).encode())
    assert isinstance(ev, PredictionEvent)
    assert ev.timestamp == 1767225600.0
    assert ev.features == {"amount": 12.5, "country": "DE", "flag": True, "gone": None}
    assert ev.prediction == 1.0 and ev.score == 0.7


def test_epoch_seconds_accepted_and_milliseconds_refused() -> None:
    assert isinstance(_one(json.dumps({**GOOD, "timestamp": 1767225600}).encode()), PredictionEvent)
    rej = _one(json.dumps({**GOOD, "timestamp": 1767225600000}).encode())
    assert isinstance(rej, Rejection) and rej.reason == "schema_violation"
    assert rej.message == "timestamp: less_than_equal"  # the number's error, not the string member's


def test_timestamp_messages_name_the_member_that_applies() -> None:
    """The timestamp is a union (number | RFC 3339 string); the message names the
    error of the member the input was meant for, not "not a string"."""
    expected = {-5: "timestamp: greater_than_equal", "yesterday": "timestamp: value_error",
                "2026-01-01T00:00:00": "timestamp: value_error", True: "timestamp: float_type"}
    for value, message in expected.items():
        rej = _one(json.dumps({**GOOD, "timestamp": value}).encode())
        assert isinstance(rej, Rejection) and (rej.reason, rej.message) == ("schema_violation", message)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty_payload"),
        (b"", "empty_payload"),
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (pickle.dumps({"event_id": "x"}), "invalid_json"),
        (b"[" * 4_000 + b"]" * 4_000, "too_deep"),
        (b'{"event_id":"e"}', "schema_violation"),
        (json.dumps({**GOOD, "score": 1.5}).encode(), "schema_violation"),
        (json.dumps({**GOOD, "timestamp": "yesterday"}).encode(), "schema_violation"),
        (json.dumps({**GOOD, "timestamp": "2026-01-01T00:00:00"}).encode(), "schema_violation"),
        (json.dumps({**GOOD, "timestamp": True}).encode(), "schema_violation"),  # was read as 1.0 once
        (json.dumps({**GOOD, "timestamp": None}).encode(), "schema_violation"),
        (json.dumps({**GOOD, "features": {"amount": {"nested": 1}}}).encode(), "schema_violation"),
        (json.dumps({**GOOD, "kind": "spaceship"}).encode(), "schema_violation"),
        (json.dumps([GOOD]).encode(), "schema_violation"),
        (json.dumps(GOOD).replace("12.5", "NaN").encode(), "non_finite_value"),
        (json.dumps(GOOD).replace("12.5", "Infinity").encode(), "non_finite_value"),
        (json.dumps(GOOD).replace("12.5", "1e999").encode(), "non_finite_value"),
    ],
)
def test_bad_input_is_rejected_with_reason(raw: bytes | None, reason: str) -> None:
    rej = _one(raw)
    assert isinstance(rej, Rejection)
    assert rej.reason == reason
    assert rej.reason in REASON_CODES


def test_oversized_record_is_not_parsed() -> None:
    raw = json.dumps({**GOOD, "pad": "x" * 20_000}).encode()
    rej = _one(raw)
    assert isinstance(rej, Rejection) and rej.reason == "too_large"


def test_rejection_messages_never_carry_input_values() -> None:
    cases = [
        {**GOOD, "features": {PII: {"x": 1}}},  # a PII feature *name* with a bad value
        {**GOOD, "features": {"email": {"v": PII}}},
        {**GOOD, "model_version": {"v": PII}},
        {**GOOD, "timestamp": PII},
        {**GOOD, "score": PII},
    ]
    for case in cases:
        rej = _one(json.dumps(case).encode())
        assert isinstance(rej, Rejection)
        assert PII not in rej.message and "jane" not in rej.message


def test_tagged_events_of_other_kinds_are_accepted_on_any_topic() -> None:
    label = {"kind": "label", "event_id": "e1", "model_id": "m", "timestamp": 1.0, "label": True}
    assert isinstance(_one(json.dumps(label).encode(), "prediction"), LabelEvent)
    untagged = {k: v for k, v in label.items() if k != "kind"}
    assert isinstance(_one(json.dumps(untagged).encode(), "label"), LabelEvent)


def test_batch_envelope_validates_each_event_on_its_own() -> None:
    bad = {**GOOD, "event_id": "e2", "score": "high"}
    env = {"kind": "batch", "events": [GOOD, bad, 7, {**GOOD, "event_id": "e3"}]}
    out = decode(json.dumps(env).encode(), "prediction", max_bytes=100_000)
    assert [type(x).__name__ for x in out] == ["PredictionEvent", "Rejection", "Rejection", "PredictionEvent"]
    r1, r2 = out[1], out[2]
    assert isinstance(r1, Rejection) and r1.index == 1 and r1.reason == "schema_violation"
    assert r1.payload is not None and json.loads(r1.payload)["event_id"] == "e2"
    assert isinstance(r2, Rejection) and r2.index == 2 and r2.payload == b"7"


def test_batch_envelope_limits() -> None:
    env = {"kind": "batch", "events": [1] * 10_001}
    out = decode(json.dumps(env).encode(), "prediction", max_bytes=1_000_000)
    assert len(out) == 1 and isinstance(out[0], Rejection) and out[0].reason == "batch_too_large"


def test_empty_batch_envelope_is_dead_lettered_not_dropped() -> None:
    # found by tests/property/test_decode_fuzz.py: an empty envelope used to yield nothing
    out = decode(b'{"kind":"batch","events":[]}', "prediction", max_bytes=1000)
    assert len(out) == 1 and isinstance(out[0], Rejection) and out[0].reason == "empty_payload"


@pytest.mark.parametrize("events", [
    [GOOD, {**GOOD, "event_id": "e2", "kind": "prediction"}],  # one kind, tagged or not: the fastest path
    [GOOD, {"kind": "label", "event_id": "e1", "model_id": "m", "timestamp": 1.0, "label": True}],  # mixed
    [GOOD, {**GOOD, "event_id": "e2", "score": "high"}, 7],  # invalid inner events
    [],
])
def test_envelopes_decode_alike_on_every_path(events: list[object]) -> None:
    # Compact envelopes (as the client writes them) try a homogeneous adapter first; with a
    # space after the brace they take the general path. Both must give the same entries.
    compact = json.dumps({"kind": "batch", "events": events}, separators=(",", ":")).encode()
    assert compact.startswith(b'{"kind":"batch"')
    spaced = b"{ " + compact[1:]
    fast, general = (decode(raw, "prediction", max_bytes=100_000) for raw in (compact, spaced))
    assert fast == general and len(fast) == max(len(events), 1)
