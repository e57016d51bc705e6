"""The sidecar's HTTP routes against a fake producer: status codes, error bodies without values,
the buffer's all-or-nothing admission, the bearer token, and metrics that count every event."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from stream_monitor.sidecar.forward import Forwarder
from stream_monitor.sidecar.mapping import SidecarMapping
from stream_monitor.sidecar.server import Sidecar, SidecarOptions
from tests.integration.kafka_helpers import sample
from tests.unit.client.test_client import FakeProducer
from tests.unit.sidecar.test_sidecar_kserve import MAPPING, V1_REQUEST, V1_RESPONSE, V2_REQUEST, kserve_headers

TOPICS = {"prediction": "preds", "feature": "feats", "label": "labels"}


def event(i: int, **kw: Any) -> dict[str, Any]:
    return {"event_id": f"e{i}", "model_id": "fraud-detector", "model_version": "v1", "timestamp": 1.7e9 + i,
            "features": {"amount": 10.0 + i, "country": "DE"}, "prediction": 0.5, "score": 0.5, **kw}


def make(producer: FakeProducer, *, max_events: int = 1000, token: str | None = None,
         max_request_bytes: int = 1 << 20) -> Sidecar:
    forwarder = Forwarder("unused:9092", TOPICS, max_events=max_events, linger_seconds=0.005,
                          producer_factory=lambda: producer)
    options = SidecarOptions("unused:9092", token=token, max_request_bytes=max_request_bytes)
    return Sidecar(options, SidecarMapping.model_validate(MAPPING), forwarder)


def run(sidecar: Sidecar, scenario: Callable[[TestClient[Any, Any]], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        sidecar.forwarder.start()
        async with TestClient(TestServer(sidecar.app())) as client:
            return await scenario(client)

    try:
        return asyncio.run(main())
    finally:
        sidecar.forwarder.close(2.0)


def wait_delivered(sidecar: Sidecar, n: int) -> None:
    deadline = time.monotonic() + 10
    while sidecar.forwarder.stats().delivered < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sidecar.forwarder.stats().delivered == n


def test_single_array_and_batch_bodies_reach_the_topics_keyed_by_model() -> None:
    producer = FakeProducer()
    sidecar = make(producer)

    async def scenario(c: TestClient[Any, Any]) -> list[int]:
        codes = []
        for body in (event(0), [event(1), event(2)], {"kind": "batch", "events": [event(3), event(4, model_id="b")]},
                     {"kind": "label", "event_id": "e0", "model_id": "fraud-detector", "timestamp": 1.7e9,
                      "label": True}):
            r = await c.post("/v1/events", data=json.dumps(body))
            codes.append(r.status)
        return codes

    assert run(sidecar, scenario) == [200, 200, 200, 200]
    stats = sidecar.forwarder.stats()
    assert (stats.sent, stats.delivered, stats.dropped, stats.pending) == (6, 6, 0, 0)
    preds = producer.events("preds")
    assert sorted(e.event_id for e in preds) == ["e0", "e1", "e2", "e3", "e4"]
    assert {key for t, key, _ in producer.sent if t == "preds"} == {b"fraud-detector", b"b"}
    assert [e.label for e in producer.events("labels", "label")] == [True]


def test_invalid_body_is_400_naming_fields_never_values_and_counted() -> None:
    sidecar = make(FakeProducer())
    secret = "4111-1111-1111-1111"

    async def scenario(c: TestClient[Any, Any]) -> list[tuple[int, Any]]:
        out = []
        for body in (json.dumps([event(0), event(1, score=7.0, features={"card": [secret]})]).encode(),
                     b"{not json " + secret.encode(), json.dumps({**event(2), "kind": "bogus"}).encode()):
            r = await c.post("/v1/events", data=body)
            out.append((r.status, await r.json()))
        return out

    results = run(sidecar, scenario)
    assert [status for status, _ in results] == [400, 400, 400]
    first = results[0][1]
    assert first["refused"] == 2
    assert {(p["index"], p["field"]) for p in first["problems"]} == {(1, "score"), (1, "features.*")}
    assert results[2][1]["problems"][0]["field"] == "kind"
    assert secret not in json.dumps(results) and "card" not in json.dumps(results)
    stats = sidecar.forwarder.stats()
    assert stats.dropped_by == {"invalid": 4} and stats.delivered == 0 and stats.balanced


def test_full_buffer_is_429_for_the_whole_request_and_counted() -> None:
    producer = FakeProducer(hold=True)  # the broker acknowledges nothing: the buffer fills
    sidecar = make(producer, max_events=5)

    async def scenario(c: TestClient[Any, Any]) -> list[tuple[int, str | None]]:
        out = []
        for body in ([event(0), event(1), event(2)], [event(3), event(4), event(5)], [event(6), event(7)]):
            r = await c.post("/v1/events", data=json.dumps(body))
            out.append((r.status, r.headers.get("Retry-After")))
        return out

    assert run(sidecar, scenario) == [(200, None), (429, "1"), (200, None)]
    stats = sidecar.forwarder.stats()
    assert stats.sent == 8 and stats.dropped_by["buffer_full"] == 3 and stats.balanced
    assert stats.dropped_by["closed"] == 5  # held when the sidecar closed: counted, not lost silently


def test_request_size_limit_and_bearer_token() -> None:
    sidecar = make(FakeProducer(), token="s3cret", max_request_bytes=2048)
    good = {"Authorization": "Bearer s3cret"}

    async def scenario(c: TestClient[Any, Any]) -> list[int]:
        codes = []
        for headers, body in (({}, [event(0)]), ({"Authorization": "Bearer wrong"}, [event(0)]),
                              (good, [event(i) for i in range(40)]), (good, [event(0)])):
            r = await c.post("/v1/events", data=json.dumps(body), headers=headers)
            codes.append(r.status)
        codes.append((await c.get("/healthz")).status)  # probes need no token
        return codes

    assert run(sidecar, scenario) == [401, 401, 413, 200, 200]
    assert sidecar.forwarder.stats().dropped_by == {"too_large": 1}


def test_kserve_cloudevents_and_metrics() -> None:
    producer = FakeProducer()
    sidecar = make(producer)

    async def scenario(c: TestClient[Any, Any]) -> tuple[list[int], str]:
        codes = []
        posts = [("a", "request", V1_REQUEST, "sklearn-iris"), ("a", "response", V1_RESPONSE, "sklearn-iris"),
                 ("b", "request", {"instances": "nope"}, "sklearn-iris"),
                 ("c", "request", {"inputs": [{**V2_REQUEST["inputs"][0], "shape": [3, 4]}]}, "sklearn-irisv2"),
                 ("d", "request", V1_REQUEST, "sklearn-iris")]
        for ce_id, side, body, service in posts:
            r = await c.post("/", data=json.dumps(body), headers=kserve_headers(ce_id, side, service))
            codes.append(r.status)
        await asyncio.to_thread(wait_delivered, sidecar, 2)
        return codes, await (await c.get("/metrics")).text()

    codes, text = run(sidecar, scenario)
    assert codes == [200, 200, 400, 400, 200]
    assert [e.event_id for e in producer.events("preds")] == ["a:0", "a:1"]
    p = "stream_monitor_sidecar_"
    assert sample(text, p + "events_delivered_total") == 2
    assert sample(text, p + "kserve_cloudevents_total", side="request") == 4
    assert sample(text, p + "kserve_rejected_total", reason="bad_payload") == 1
    assert sample(text, p + "kserve_rejected_total", reason="bad_shape") == 1
    assert sample(text, p + "kserve_paired_total") == 1
    assert sample(text, p + "kserve_pending") == 1
    assert sample(text, p + "kserve_unpaired_total", side="request", reason="expired") == 0
    assert sample(text, p + "http_requests_total", endpoint="kserve", code="400") == 2
    assert sample(text, p + "events_dropped_total", reason="buffer_full") == 0


@pytest.mark.parametrize("path", ["/", "/v1/cloudevents"])
def test_kserve_routes_refuse_plain_json(path: str) -> None:
    sidecar = make(FakeProducer())

    async def scenario(c: TestClient[Any, Any]) -> tuple[int, Any]:
        r = await c.post(path, data=json.dumps(V1_REQUEST), headers={"Content-Type": "application/json"})
        return r.status, await r.json()

    status, body = run(sidecar, scenario)
    assert status == 400 and body["problems"][0]["field"] == "specversion"
