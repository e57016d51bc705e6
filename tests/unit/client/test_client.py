"""The sidecar client without a broker: one budget for queued and unacknowledged events,
every event delivered or dropped with a reason, never raising, blocking only when asked."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from stream_monitor.client import DROP_REASONS, MonitorClient
from stream_monitor.client.buffer import Buffer, Envelope
from stream_monitor.tools.broker import free_port
from stream_monitor.validation import decode


class FakeProducer:
    """aiokafka's producer interface. ``error``: every send's future fails with it;
    ``raise_on_send``: send() itself raises it; ``hold``: futures resolve only once released."""

    def __init__(self, error: Exception | None = None, raise_on_send: Exception | None = None,
                 hold: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.error = error
        self.raise_on_send = raise_on_send
        self.hold = hold
        self.held: list[asyncio.Future[Any]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped = False

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[Any]:
        if self.raise_on_send is not None:
            raise self.raise_on_send
        self.sent.append((topic, key, value))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.hold:
            self.held.append(future)
        elif self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result("metadata")
        return future

    def release(self) -> None:
        """Acknowledge every held envelope (from the test's thread)."""
        def ack() -> None:
            for f in self.held:
                if not f.done():
                    f.set_result("metadata")
        assert self.loop is not None
        self.loop.call_soon_threadsafe(ack)

    async def stop(self) -> None:
        self.stopped = True

    def events_sent(self) -> int:
        """Events handed over so far, whatever batches the sender cut them into."""
        n = 0
        for _, _, value in list(self.sent):
            doc = json.loads(value)
            kind = doc.get("kind")
            n += len(doc["events"]) if kind == "batch" else len(doc["event_id"]) if kind == "columns" else 1
        return n

    def events(self, topic: str, kind: str = "prediction") -> list[Any]:
        return [e for t, _, value in self.sent if t == topic
                for e in decode(value, kind, max_bytes=1 << 20)]  # type: ignore[arg-type]


def _client(producer: Any, **kw: Any) -> MonitorClient:
    return MonitorClient("unused:9092", "fraud-detector", "v1", producer_factory=lambda: producer, **kw)


def _wait(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.mark.parametrize("columnar", [True, False])
def test_events_travel_in_batch_envelopes_keyed_by_model(columnar: bool) -> None:
    producer = FakeProducer()
    client = _client(producer, batch_size=10, linger_seconds=0.01, columnar=columnar)
    ids = [client.log_prediction(1, features={"amount": float(i), "country": "DE"}, score=0.7,
                                 timestamp=1.7e9 + i, latency_ms=3.0) for i in range(25)]
    client.log_features(ids[0], {"age": 31.0})
    client.log_label(ids[0], True)
    assert client.flush(10)
    client.close()
    preds = producer.events("model-predictions")
    assert [e.event_id for e in preds] == ids
    assert preds[3].features == {"amount": 3.0, "country": "DE"} and preds[3].latency_ms == 3.0
    assert all(json.loads(v)["kind"] == ("columns" if columnar else "batch") for _, _, v in producer.sent)
    assert {k for _, k, _ in producer.sent} == {b"fraud-detector"}
    assert len([t for t, _, _ in producer.sent if t == "model-predictions"]) >= 3  # batch_size 10
    assert producer.events("model-features", "feature")[0].features == {"age": 31.0}
    assert producer.events("model-labels", "label")[0].label is True
    stats = client.stats
    assert (stats.sent, stats.delivered, stats.dropped, stats.pending) == (27, 27, 0, 0)
    assert producer.stopped


def test_envelopes_respect_max_message_bytes() -> None:
    producer = FakeProducer()
    client = _client(producer, max_message_bytes=4096, linger_seconds=0.01)
    for i in range(40):
        client.log_prediction(0.5, features={"text": f"{i:03d}" + "x" * 400})
    assert client.flush(10)
    client.close()
    assert len(producer.events("model-predictions")) == 40
    assert all(len(v) <= 4096 for _, _, v in producer.sent) and len(producer.sent) >= 5


def test_full_buffer_drops_and_counts_without_blocking() -> None:
    """A producer that never comes up (the broker hangs): the caller is never held."""
    up = threading.Event()

    class SlowStart(FakeProducer):
        async def start(self) -> None:
            while not up.is_set():  # noqa: ASYNC110 - a threading.Event, set by the test's thread
                await asyncio.sleep(0.01)
            await super().start()

    producer = SlowStart()
    client = _client(producer, max_queue=5)
    for i in range(12):
        client.log_prediction(0.5, event_id=f"e{i}")  # returns although the producer is not up
    stats = client.stats
    assert (stats.sent, stats.pending, stats.delivered) == (12, 5, 0)
    assert dict(stats.dropped_by) == {"buffer_full": 7} and stats.balanced
    up.set()
    assert client.flush(10)
    client.close()
    assert client.stats.delivered == 5 and [e.event_id for e in producer.events("model-predictions")] == [
        f"e{i}" for i in range(5)]


def test_events_awaiting_acknowledgement_count_against_the_budget() -> None:
    """Handing events to the producer does not free room: only the broker's acknowledgement
    (or a counted drop) does. A dead broker cannot make the client grow."""
    producer = FakeProducer(hold=True)
    client = _client(producer, max_queue=50, batch_size=10, linger_seconds=0.0)
    for _ in range(50):
        client.log_prediction(0.5)
    # all 50 handed over (in batches of at most 10: the sender may cut smaller ones), none acknowledged
    _wait(lambda: producer.events_sent() == 50)
    for _ in range(30):
        client.log_prediction(0.5)
    stats = client.stats
    assert (stats.sent, stats.pending, stats.delivered, stats.dropped_by.get("buffer_full")) == (80, 50, 0, 30)
    producer.hold = False
    producer.release()
    assert client.flush(10)
    for _ in range(10):
        client.log_prediction(0.5)  # room again
    client.close()
    stats = client.stats
    assert (stats.sent, stats.delivered, stats.dropped, stats.pending) == (90, 60, 30, 0)


def test_buffer_bytes_bound() -> None:
    producer = FakeProducer(hold=True)
    client = _client(producer, max_queue_bytes=2000)
    for _ in range(20):
        client.log_prediction(0.1, features={"text": "x" * 400})
    # each encoded event is ~530 bytes: three fit in 2000
    stats = client.stats
    assert stats.pending == 3 and stats.dropped_by == {"buffer_full": 17} and stats.pending_bytes <= 2000
    client.close(timeout=0.5)


def test_blocking_backpressure_waits_for_room_then_times_out() -> None:
    producer = FakeProducer(hold=True)
    client = _client(producer, max_queue=5, block=True, block_timeout_seconds=0.3, linger_seconds=0.0)
    for _ in range(5):
        client.log_prediction(0.5)
    _wait(lambda: len(producer.sent) >= 1 and client.stats.pending == 5)
    started = time.monotonic()
    client.log_prediction(0.5)  # no room and no acknowledgement: waits its timeout, then drops
    assert time.monotonic() - started >= 0.25
    assert client.stats.dropped_by == {"buffer_full": 1}

    def release_later() -> None:
        time.sleep(0.1)
        producer.release()

    threading.Thread(target=release_later).start()
    client.block_seconds = 10.0
    client.log_prediction(0.5)  # waits for the acknowledgement instead of dropping
    assert client.stats.dropped == 1
    producer.hold = False
    producer.release()
    assert client.flush(10)
    client.close()
    stats = client.stats
    assert (stats.sent, stats.delivered, stats.dropped) == (7, 6, 1) and stats.balanced


def test_close_wakes_blocked_callers_and_counts_them() -> None:
    producer = FakeProducer(hold=True)
    client = _client(producer, max_queue=2, block=True, block_timeout_seconds=30)
    client.log_prediction(0.5)
    client.log_prediction(0.5)
    blocked = threading.Thread(target=client.log_prediction, args=(0.5,))
    blocked.start()
    time.sleep(0.1)
    client.close(timeout=0.5)
    blocked.join(5)
    assert not blocked.is_alive()
    assert client.stats.dropped_by == {"closed": 3} and client.stats.pending == 0


@pytest.mark.parametrize(
    ("call", "reason", "why"),
    [
        (lambda c: c.log_prediction(0.5, features={"secret_feature": math.nan}), "invalid", "features.*"),
        (lambda c: c.log_prediction(0.5, features={"blob": object()}), "invalid", "features.*"),
        (lambda c: c.log_prediction(0.5, features=[1, 2]), "invalid", "features: dict_type"),
        (lambda c: c.log_prediction(score=1.5), "invalid", "score: less_than_equal"),
        (lambda c: c.log_prediction({"a": 1}), "invalid", "prediction"),
        (lambda c: c.log_prediction(0.5, latency_ms=-1), "invalid", "latency_ms"),
        (lambda c: c.log_label("x" * 300, 1), "invalid", "event_id: string_too_long"),
        (lambda c: c.log_prediction(0.5, timestamp="yesterday"), "invalid", "timestamp"),
        (lambda c: c.log_prediction(0.5, features={f"f{i}": "y" * 500 for i in range(10)}), "too_large",
         "larger than max_message_bytes"),
    ],
)
def test_invalid_events_are_counted_never_raised_nor_logged(call: Any, reason: str, why: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    producer = FakeProducer()
    client = _client(producer, max_message_bytes=4096)
    with caplog.at_level(logging.WARNING, logger="stream_monitor.client"):
        call(client)
    stats = client.stats
    assert stats.dropped_by == {reason: 1} and stats.sent == 1 and stats.pending == 0
    assert why in caplog.text
    for leaked in ("xxxx", "yyyy", "secret_feature", "yesterday", "nan"):
        assert leaked not in caplog.text.lower(), leaked
    client.close()
    assert not producer.sent


@pytest.mark.parametrize(
    ("producer", "reason"),
    [
        (FakeProducer(error=KafkaTimeoutError()), "timeout"),
        (FakeProducer(error=MessageSizeTooLargeError()), "too_large"),
        (FakeProducer(error=KafkaConnectionError()), "broker_error"),
        (FakeProducer(raise_on_send=KafkaTimeoutError()), "timeout"),
        (FakeProducer(raise_on_send=RuntimeError("producer bug")), "broker_error"),
    ],
    ids=["ack-timeout", "ack-too-large", "ack-error", "send-timeout", "send-raises"],
)
def test_producer_errors_are_counted_by_reason(producer: FakeProducer, reason: str) -> None:
    client = _client(producer)
    for _ in range(3):
        client.log_prediction(0.2)
    assert client.flush(10)
    client.close()
    stats = client.stats
    assert stats.dropped_by == {reason: 3} and stats.delivered == 0 and stats.balanced and stats.pending == 0


def test_close_is_bounded_when_nothing_is_acknowledged() -> None:
    producer = FakeProducer(hold=True)
    client = _client(producer, linger_seconds=0.0)
    for _ in range(100):
        client.log_prediction(0.5)
    _wait(lambda: len(producer.sent) > 0)
    started = time.monotonic()
    client.close(timeout=0.5)
    assert time.monotonic() - started < 0.5 + 1.0  # its timeout, with slack for a busy machine
    stats = client.stats
    assert stats.dropped_by == {"closed": 100} and stats.pending == 0 and stats.balanced
    assert producer.stopped
    client.log_prediction(0.5)  # after close: counted, not raised
    assert client.stats.dropped_by == {"closed": 101}


def test_unreachable_bootstrap_never_raises_and_close_is_bounded() -> None:
    client = MonitorClient(f"127.0.0.1:{free_port()}", "fraud-detector", "v1", max_queue=10)
    for _ in range(15):
        client.log_prediction(0.3, features={"amount": 1.0})
    assert not client.flush(0.2)
    started = time.monotonic()
    client.close(timeout=1.0)
    assert time.monotonic() - started < 1.0 + 1.0
    stats = client.stats
    assert (stats.sent, stats.delivered, stats.pending) == (15, 0, 0)
    assert stats.dropped_by == {"buffer_full": 5, "closed": 10}


def test_an_envelope_is_settled_once() -> None:
    """An envelope counted as dropped at close and acknowledged afterwards stays counted once."""
    buffer = Buffer(max_events=10, max_bytes=1000)
    for i in range(4):
        assert buffer.put("prediction", b"x" * (10 + i)) is None
    (env,) = buffer.take(10, batch_size=10, max_message_bytes=1000)
    assert env.count == 4 and buffer.stats().pending == 4
    assert buffer.abandon() == 4
    buffer.settle(env, None)  # a late acknowledgement
    buffer.settle(Envelope("prediction", [b"y"], 1, settled=True), None)
    stats = buffer.stats()
    assert (stats.sent, stats.delivered, stats.dropped, stats.pending, stats.pending_bytes) == (4, 0, 4, 0, 0)
    assert set(stats.dropped_by) <= set(DROP_REASONS)


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
    assert client.stats.dropped_by == {"invalid": 1} and client.stats.delivered == 2


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
    with pytest.raises(ValueError, match="batch_size"):
        MonitorClient("k:9092", "m", "v1", batch_size=20_000)


def test_a_forked_child_has_its_own_sender_and_counters() -> None:
    producer = FakeProducer()
    client = _client(producer)
    client.log_prediction(0.5)
    assert client.flush(10)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's sender thread did not come along
        try:
            client.log_prediction(0.5)
            client.log_prediction(0.5)
            ok = client.flush(10)
            client.close(1.0)
            s = client.stats
            os.write(write_end, json.dumps([ok, s.sent, s.delivered, s.pending]).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        child = json.loads(f.read() or "null")
    os.waitpid(pid, 0)
    assert child == [True, 2, 2, 0]  # the parent's event is the parent's alone
    client.close()
    assert (client.stats.sent, client.stats.delivered) == (1, 1)


def test_events_that_cannot_share_a_columnar_envelope_travel_as_rows() -> None:
    producer = FakeProducer()
    client = _client(producer, batch_size=10, linger_seconds=5.0)
    ids = [client.log_prediction(0.5, score=0.5, timestamp=1.7e9 + i, model_version="v1" if i % 2 else "v2")
           for i in range(4)]
    ids.append(client.log_prediction("cat", scores={"cat": 0.9, "dog": 0.1}, timestamp=1.7e9))
    assert client.flush(10)
    client.close()
    assert [json.loads(v)["kind"] for _, _, v in producer.sent] == ["batch"]
    assert [e.event_id for e in producer.events("model-predictions")] == ids
    assert client.stats.delivered == 5 and client.stats.balanced


def test_a_columnar_envelope_holds_the_events_the_rows_would() -> None:
    rows, cols = FakeProducer(), FakeProducer()
    for producer, columnar in ((rows, False), (cols, True)):
        client = _client(producer, batch_size=100, linger_seconds=5.0, columnar=columnar)
        for i in range(30):
            client.log_prediction(i % 2, features={"a": float(i), **({"b": "x"} if i % 3 else {})},
                                  score=0.1 * (i % 10), event_id=f"e{i}", timestamp=1.7e9 + i,
                                  attributes={"region": "eu"} if i % 2 else None)
        client.log_label("e1", True, timestamp=1.7e9)
        assert client.flush(10)
        client.close()
    assert {json.loads(v)["kind"] for _, _, v in cols.sent} == {"columns"}
    assert cols.events("model-predictions") == rows.events("model-predictions")
    assert cols.events("model-labels", "label") == rows.events("model-labels", "label")
    assert sum(len(v) for _, _, v in cols.sent) < sum(len(v) for _, _, v in rows.sent)
