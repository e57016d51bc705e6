"""The foundation end to end, on the real embedded broker.

A stationary stream, then a drifted one, for the demo model; malformed records
interleaved. No retrain request while stationary, exactly one after drift (from
the per-event CUSUM alarm), naming a drifted feature and no other, the window
tests then flagging both changed features; /metrics and the dead-letter topic count exactly
what was produced.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from stream_monitor.tools.simulate import Scenario, generate, to_json

from .conftest import Stack
from .kafka_helpers import produce, read_topic, sample, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

BASE = next(iter(generate(Scenario(), 1)))
MALFORMED: list[tuple[bytes | None, str]] = [
    (b"{not json", "invalid_json"),
    (b"\x80\x04\x95pickle", "invalid_json"),
    (b"[" * 3000 + b"]" * 3000, "too_deep"),
    (json.dumps({"event_id": "x"}).encode(), "schema_violation"),
    (to_json({**BASE, "score": 7}), "schema_violation"),
    (to_json(BASE).replace(b'"amount":', b'"amount":NaN,"was":'), "non_finite_value"),
    (to_json({**BASE, "model_id": "nobody-configured-me"}), "unknown_model"),
    (to_json({**BASE, "pad": "x" * 70_000}), "too_large"),
    (None, "empty_payload"),
]
MV = {"model": "fraud-detector", "version": "v1"}


def test_drift_to_one_retrain_request_with_exact_counts(stack: Stack) -> None:
    stack.overrides = {"limits": {"max_message_bytes": 65_536}}
    t = stack.topics
    worker = stack.worker().start()
    events = [to_json(e) for e in generate(Scenario(kind="abrupt", change_at=6000, seed=21), 10_000)]

    # 1. stationary part, with the malformed records in the middle of it
    produce(stack.broker.bootstrap, t["predictions"], events[:3000])
    produce(stack.broker.bootstrap, t["predictions"], [raw for raw, _ in MALFORMED])
    produce(stack.broker.bootstrap, t["predictions"], events[3000:6000])
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
             == 6000, 60, what="6000 stationary events consumed")
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_windows_closed_total", **MV) == 6, 10,
             what="six windows closed")
    assert read_topic(stack.broker.bootstrap, t["retrain"], quiet=2.0) == []

    # 2. drifted part
    produce(stack.broker.bootstrap, t["predictions"], events[6000:])
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
             == 10_000, 60, what="10,000 events consumed")
    # four whole windows after the change, two of them cut early by alarms (evidence, then corroboration)
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_windows_closed_total", **MV) == 11, 60,
             what="eleven windows closed")
    requests = read_topic(stack.broker.bootstrap, t["retrain"], quiet=2.0)
    # One breach: a new request, then at most updates of it (more features or a higher severity),
    # each superseding the one before.
    bodies = [json.loads(r.value or b"") for r in requests]
    assert bodies and bodies[0]["supersedes"] is None and len(bodies) <= 3
    assert all(b["supersedes"] == a["request_id"] for a, b in zip(bodies, bodies[1:], strict=False))
    assert all(r.key == b"fraud-detector" for r in requests)
    req = bodies[0]
    # CUSUM alarms a few events after the change closed window 6 early (evidence) and the next
    # window early too (the alarm that corroborated it) and made the request: it names what
    # alarmed (a changed feature, never an unchanged one).
    drifted = {r["feature"] for r in req["reasons"]}
    assert drifted & {"amount", "country"} and drifted <= {"amount", "country", "__prediction__"}
    assert any(r["detector"] == "cusum" for r in req["reasons"])
    assert req["model_version"] == "v1" and req["consecutive_windows"] == 1
    assert req["reasons"][0]["window"]["index"] in (6, 7) and req["reasons"][0]["window"]["events"] < 100

    # 3. metrics scraped over HTTP equal what was produced
    text = worker.metrics()
    assert sample(text, "stream_monitor_events_consumed_total", kind="prediction", **MV) == 10_000
    for severity in ("warning", "critical"):
        published = sum(b["severity"] == severity for b in bodies)
        assert (sample(text, "stream_monitor_retrain_requests_total", severity=severity, **MV) or 0) == published
    assert sample(text, "stream_monitor_feature_drift", feature="amount", detector="ks", **MV) == 1
    assert sample(text, "stream_monitor_feature_drift", feature="country", detector="chi2", **MV) == 1
    assert sample(text, "stream_monitor_feature_drift", feature="age", detector="ks", **MV) == 0
    assert sample(text, "stream_monitor_model_drift_state", stream_monitor_model_drift_state="drift", **MV) == 1
    assert sample(text, "stream_monitor_drift_statistic", feature="amount", detector="psi", **MV) > 0.2  # type: ignore[operator]
    expected = Counter(reason for _, reason in MALFORMED)
    for reason, n in expected.items():
        assert sample(text, "stream_monitor_dead_letter_total", source="predictions", reason=reason) == n, reason

    # 4. the dead-letter topic holds exactly those records, bytes unchanged, reasons in headers
    dlq = read_topic(stack.broker.bootstrap, t["dlq"], quiet=2.0)
    assert Counter(r.headers["stream-monitor.reason"].decode() for r in dlq) == expected
    by_reason = {r.headers["stream-monitor.reason"].decode(): r for r in dlq}
    assert by_reason["invalid_json"].value in (b"{not json", b"\x80\x04\x95pickle")
    assert by_reason["empty_payload"].value is None
    for r in dlq:
        assert r.headers["stream-monitor.topic"].decode() == t["predictions"]
        assert int(r.headers["stream-monitor.offset"]) >= 3000

    # 5. clean shutdown on SIGTERM
    assert worker.stop() == 0
