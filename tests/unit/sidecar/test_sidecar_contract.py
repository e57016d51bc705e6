"""``POST /v1/events`` bodies: the prediction fast path and the general path accept and refuse the
same bodies, and what either returns encodes to what the worker's decoder accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stream_monitor.sidecar.contract import encode_events, parse_events
from stream_monitor.validation import decode

PRED: dict[str, Any] = {"event_id": "p1", "model_id": "m", "model_version": "v1", "timestamp": 1.7e9,
                        "features": {"amount": 1.5, "country": "DE", "gap": None}, "prediction": 1, "score": 0.8}
LABEL: dict[str, Any] = {"kind": "label", "event_id": "p1", "model_id": "m", "timestamp": 1.7e9, "label": True}


def _envelope(events: list[dict[str, Any]], **extra: Any) -> bytes:
    return json.dumps({"kind": "batch", "events": events, **extra}, separators=(",", ":")).encode()


@pytest.mark.parametrize(("body", "kinds"), [
    (json.dumps(PRED).encode(), ["prediction"]),
    (json.dumps([PRED, PRED]).encode(), ["prediction", "prediction"]),
    (_envelope([PRED, PRED]), ["prediction", "prediction"]),  # the client's exact form: fast path
    (b"  " + _envelope([PRED]) + b"\n", ["prediction"]),
    (_envelope([PRED], source="x"), ["prediction"]),  # a member after events: general path
    (_envelope([PRED, LABEL]), ["prediction", "label"]),  # mixed kinds: general path
    (json.dumps([LABEL, PRED]).encode(), ["label", "prediction"]),
    (json.dumps({k: v for k, v in PRED.items()}).encode(), ["prediction"]),
    (b"[]", []),
])
def test_accepted_bodies_round_trip_through_the_worker_decoder(body: bytes, kinds: list[str]) -> None:
    events, problems, _ = parse_events(body)
    assert problems == [] and [e.kind for e in events] == kinds  # type: ignore[attr-defined]
    for (route, raw), kind in zip(encode_events(events), kinds, strict=True):
        assert route == f"{kind}\nm"
        (decoded,) = decode(raw, kind, max_bytes=1 << 20)  # type: ignore[arg-type]
        assert decoded.event_id == "p1"  # type: ignore[union-attr]
    if kinds and kinds[0] == "prediction":
        assert events[0].features == {"amount": 1.5, "country": "DE", "gap": None}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("body", "refused", "problem"), [
    (_envelope([PRED, {**PRED, "score": 1.5}]), 2, (1, "score")),
    (json.dumps([PRED, {**PRED, "prediction": [1]}]).encode(), 2, (1, "prediction")),
    (json.dumps({**PRED, "timestamp": True}).encode(), 1, (None, "timestamp")),
    (_envelope([PRED, LABEL, {**LABEL, "label": None}]), 3, (2, "label")),
    (b'{"kind":"batch","events":[' + json.dumps(PRED).encode() + b",", 1, (None, "$")),
])
def test_refused_bodies_name_index_and_field(body: bytes, refused: int, problem: tuple[int | None, str]) -> None:
    events, problems, n = parse_events(body)
    assert events == [] and n == refused
    assert problem in [(p.index, p.field) for p in problems]
