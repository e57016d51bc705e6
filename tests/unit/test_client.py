"""The sidecar client without a broker: bounded queue, drops, never raising, never blocking."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from typing import Any

import pytest

from stream_monitor.broker import free_port
from stream_monitor.client import MonitorClient
from stream_monitor.validation import decode


class _Future:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_callback(self, fn: Any, *args: Any) -> _Future:
        if self.error is None:
            fn(*args, "metadata")
        return self

    def add_errback(self, fn: Any, *args: Any) -> _Future:
        if self.error is not None:
            fn(*args, self.error)
        return self


class FakeProducer:
    """Records what was sent; can fail every send, or raise from send()."""

    def __init__(self, error: Exception | None = None, raise_on_send: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.error = error
        self.raise_on_send = raise_on_send
        self.closed = False

    def send(self, topic: str, key: bytes, value: bytes) -> _Future:
        if self.raise_on_send:
            raise BufferError("producer buffer full")
        self.sent.append((topic, key, value))
        return _Future(self.error)

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    def events(self, topic: str, kind: str = "prediction") -> list[Any]:
        out = []
        for t, _, value in self.sent:
            if t == topic:
                out.extend(decode(value, kind, max_bytes=1 << 20))  # type: ignore[arg-type]
        return out


def _client(producer: Any, **kw: Any) -> MonitorClient:
    return MonitorClient("unused:9092", "fraud-detector", "v1", producer_factory=lambda: producer, **kw)


def test_events_travel_in_batch_envelopes_keyed_by_model() -> None:
    producer = FakeProducer()
    client = _client(producer, batch_size=10, linger_seconds=0.01)
    ids = [client.log_prediction(1, features={"amount": float(i), "country": "DE"}, score=0.7,
                                 timestamp=1.7e9 + i, latency_ms=3.0) for i in range(25)]
    client.log_features(ids[0], {"age": 31.0})
    client.log_label(ids[0], True)
    assert client.flush(10)
    client.close()
    preds = producer.events("model-predictions")
    assert [e.event_id for e in preds] == ids
    assert preds[3].features == {"amount": 3.0, "country": "DE"} and preds[3].latency_ms == 3.0
    assert all(json.loads(v)["kind"] == "batch" for _, _, v in producer.sent)
    assert {k for _, k, _ in producer.sent} == {b"fraud-detector"}
    assert len([t for t, _, _ in producer.sent if t == "model-predictions"]) >= 3  # batch_size 10
    assert producer.events("model-features", "feature")[0].features == {"age": 31.0}
    assert producer.events("model-labels", "label")[0].label is True
    stats = client.stats
    assert (stats.accepted, stats.sent, stats.dropped, stats.failed, stats.pending) == (27, 27, 0, 0, 0)
    assert producer.closed


def test_full_queue_drops_and_counts_without_blocking() -> None:
    """A producer that never comes up (the broker hangs): the caller is never held."""
    release = threading.Event()

    def hanging_factory() -> FakeProducer:
        release.wait(30)
        return FakeProducer()

    client = MonitorClient("unused:9092", "fraud-detector", "v1", producer_factory=hanging_factory, max_queue=5)
    for i in range(12):
        client.log_prediction(0.5, event_id=f"e{i}")  # returns although the factory blocks
    stats = client.stats
    assert (stats.accepted, stats.dropped, stats.pending, stats.sent) == (5, 7, 5, 0)
    release.set()
    assert client.flush(10)
    assert client.stats.sent == 5
    client.close()


def test_queue_bytes_bound() -> None:
    release = threading.Event()
    client = MonitorClient("unused:9092", "m", "v1", max_queue_bytes=2000,
                           producer_factory=lambda: release.wait(30) and FakeProducer())
    for _ in range(20):
        client.log_prediction(0.1, features={"text": "x" * 400})
    # each encoded event is ~530 bytes: three fit in 2000
    assert client.stats.accepted == 3 and client.stats.dropped == 17
    release.set()
    client.close()


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (lambda c: c.log_prediction(0.5, features={"amount": math.nan}), "not JSON-encodable"),
        (lambda c: c.log_prediction(0.5, features={"blob": object()}), "not JSON-encodable"),
        (lambda c: c.log_prediction(0.5, features=[1, 2]), "features must be a mapping"),
        (lambda c: c.log_prediction(score=1.5), "score must be a probability"),
        (lambda c: c.log_prediction({"a": 1}), "prediction must be"),
        (lambda c: c.log_prediction(0.5, latency_ms=-1), "latency_ms"),
        (lambda c: c.log_label("x" * 300, 1), "event_id"),
        (lambda c: c.log_prediction(0.5, features={"big": "x" * 5000}), "larger than max_message_bytes"),
    ],
)
def test_invalid_events_are_counted_never_raised_nor_logged(call: Any, why: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    producer = FakeProducer()
    client = _client(producer, max_message_bytes=4096)
    with caplog.at_level(logging.WARNING, logger="stream_monitor.client"):
        call(client)
    assert client.stats.invalid == 1 and client.stats.accepted == 0
    assert why in caplog.text
    assert "xxxx" not in caplog.text and "nan" not in caplog.text.lower().replace("not json", "")
    client.close()


def test_broker_errors_are_counted_as_failed() -> None:
    for producer in (FakeProducer(error=TimeoutError("no broker")), FakeProducer(raise_on_send=True)):
        client = _client(producer)
        for _ in range(3):
            client.log_prediction(0.2)
        client.flush(10)
        client.close()
        assert client.stats.failed == 3 and client.stats.sent == 0


def test_unreachable_bootstrap_never_raises_and_close_is_bounded() -> None:
    client = MonitorClient(f"127.0.0.1:{free_port()}", "fraud-detector", "v1", max_queue=10,
                           producer_config={"api_version_auto_timeout_ms": 500})
    for _ in range(15):
        client.log_prediction(0.3, features={"amount": 1.0})
    assert not client.flush(0.2)
    client.close(timeout=0.2)
    stats = client.stats
    assert stats.accepted == 10 and stats.dropped == 5 and stats.sent == 0
    assert stats.failed == 10 and stats.pending == 0
    client.log_prediction(0.3)  # after close: dropped, not raised
    assert client.stats.dropped == 6


def test_decorator_sync_and_async() -> None:
    producer = FakeProducer()
    client = _client(producer)

    @client.monitor(features_from="features", score_from=lambda r: r["score"])
    def predict(features: dict[str, float], threshold: float = 0.5) -> dict[str, float]:
        return {"score": min(features["amount"] / 100, 1.0)}

    @client.monitor(features_from=lambda req: req["features"], prediction_from=lambda r: r["label"])
    async def predict_async(req: dict[str, Any]) -> dict[str, str]:
        return {"label": "fraud"}

    @client.monitor(score_from=lambda r: r["missing"])
    def broken_extractor() -> dict[str, float]:
        return {"score": 0.1}

    @client.monitor()
    def failing() -> float:
        raise RuntimeError("model error")

    assert predict({"amount": 42.0}) == {"score": 0.42}
    assert asyncio.run(predict_async({"features": {"country": "FR"}})) == {"label": "fraud"}
    assert broken_extractor() == {"score": 0.1}
    with pytest.raises(RuntimeError, match="model error"):
        failing()
    assert client.flush(10)
    client.close()
    sync_event, async_event = producer.events("model-predictions")
    assert sync_event.features == {"amount": 42.0} and sync_event.score == 0.42 and sync_event.prediction == 0.42
    assert sync_event.latency_ms is not None and sync_event.latency_ms >= 0
    assert async_event.features == {"country": "FR"} and async_event.prediction == "fraud"
    assert client.stats.invalid == 1 and client.stats.sent == 2


def test_context_manager() -> None:
    producer = FakeProducer()
    client = _client(producer)
    with client.prediction({"amount": 5.0}) as p:
        p.score = 0.9
    with client.prediction({"amount": 6.0}) as q:
        q.prediction = "no"
        q.skip = True
    with pytest.raises(ValueError, match="boom"), client.prediction({"amount": 7.0}) as r:
        r.score = 0.1
        raise ValueError("boom")
    client.close()
    (event,) = producer.events("model-predictions")
    assert event.event_id == p.event_id and event.score == 0.9 and event.prediction == 0.9
    assert event.latency_ms is not None


def test_bad_construction_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="model_id"):
        MonitorClient("k:9092", "", "v1")
    with pytest.raises(ValueError, match="batch_size"):
        MonitorClient("k:9092", "m", "v1", batch_size=0)
