"""``POST /v1/events`` through the real sidecar process into the real broker: what it accepts is
on the topics, decodable by the worker's decoder, keyed by model; what it refuses is counted and
answered with the fields at fault; SIGTERM sends what is held before the process exits."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from benchmarks.workload import encoded_events
from stream_monitor.validation import Rejection, decode

from .conftest import Stack
from .kafka_helpers import read_topic
from .test_sidecar_kserve import SidecarProcess, sidecar  # noqa: F401 - the fixture

pytestmark = [pytest.mark.integration, pytest.mark.broker]
JSON = {"Content-Type": "application/json"}


def test_events_batches_and_refusals(stack: Stack, sidecar: SidecarProcess) -> None:  # noqa: F811
    t = stack.topics
    raw = encoded_events(3000, models=3)
    for lo in range(0, 3000, 500):
        body = b'{"kind":"batch","events":[' + b",".join(raw[lo:lo + 500]) + b"]}"
        assert sidecar.post("/v1/events", body, JSON) == (200, {"accepted": 500})
    single = json.loads(raw[0])
    label = {"kind": "label", "event_id": single["event_id"], "model_id": single["model_id"],
             "timestamp": single["timestamp"], "label": True}
    assert sidecar.post("/v1/events", json.dumps([label]).encode(), JSON) == (200, {"accepted": 1})
    bad = [single, {**single, "timestamp": "yesterday"}]
    status, answer = sidecar.post("/v1/events", json.dumps(bad).encode(), JSON)
    assert status == 400 and answer["refused"] == 2
    assert [(p["index"], p["field"]) for p in answer["problems"]] == [(1, "timestamp")]
    assert "yesterday" not in json.dumps(answer)

    assert sidecar.stop() == 0  # SIGTERM: flushes what is held, then exits
    records = read_topic(stack.broker.bootstrap, t["predictions"], quiet=2.0)
    decoded = [(r.key, e) for r in records for e in decode(r.value, "prediction", max_bytes=1 << 20)]
    assert not [e for _, e in decoded if isinstance(e, Rejection)]
    assert len(decoded) == 3000 and len({e.event_id for _, e in decoded}) == 3000
    assert all(key == e.model_id.encode() for key, e in decoded)
    assert Counter(e.model_id for _, e in decoded) == Counter(json.loads(r)["model_id"] for r in raw)
    labels = [e for r in read_topic(stack.broker.bootstrap, t["labels"], quiet=1.0)
              for e in decode(r.value, "label", max_bytes=1 << 20)]
    assert [(e.event_id, e.label) for e in labels] == [(single["event_id"], True)]
    log = sidecar.log_path.read_text()
    assert "received 3003, delivered 3001, dropped 2 {'invalid': 2}" in log
    assert "yesterday" not in log
