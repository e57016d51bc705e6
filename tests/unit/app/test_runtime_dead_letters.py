"""Dead letters are counted once the broker acknowledged them; a publish that fails for good
rolls the partition back to its last snapshot, so the records are read again, not dropped;
a value too large for the producer is cut with its size and hash (no broker)."""

from __future__ import annotations

import asyncio
import hashlib

from prometheus_client import CollectorRegistry

from stream_monitor.app.faust_io import dead_letter_value_bytes, producer_request_bytes
from stream_monitor.app.runtime import Runtime
from stream_monitor.config.references import load_references
from stream_monitor.errors import PublishError
from stream_monitor.pipeline.monitor import SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.sinks.topics import Headers, MemoryPublisher
from stream_monitor.tools.simulate import Scenario, generate, to_json
from tests.conftest import ROOT, MemoryStore


class _FailingPublisher(MemoryPublisher):
    """Refuses every publish while ``down`` is set (as the worker's publisher does after its retries)."""

    down: bool = False

    async def publish(self, topic: str, key: bytes | None, value: bytes | None, headers: Headers = ()) -> None:
        if self.down:
            raise PublishError(f"could not publish to {topic}")
        await super().publish(topic, key, value, headers)


def _settings() -> ServiceSettings:
    return ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")


def _dead(reg: CollectorRegistry) -> float:
    return reg.get_sample_value("stream_monitor_dead_letter_total",
                                {"source": "predictions", "reason": "invalid_json"}) or 0.0


def test_a_failed_dead_letter_is_neither_counted_nor_dropped() -> None:
    s = _settings()
    topic = s.topics.predictions
    good = [to_json(e) for e in generate(Scenario(seed=7), 20)]
    values = [*good[:10], b"{bad", *good[10:]]
    recs = [SourceRecord("prediction", v, topic, 0, i, b"fraud-detector") for i, v in enumerate(values)]
    reg = CollectorRegistry()
    seeks: list[tuple[str, int, int]] = []

    async def seek(t: str, p: int, o: int) -> None:
        seeks.append((t, p, o))

    pub = _FailingPublisher()
    rt = Runtime(s, load_references(s), pub, None, MemoryStore(), seek)
    rt.metrics = MonitorMetrics(reg, rt.all_monitors)
    rt.dead_letters.published = rt.metrics.dead_lettered

    async def main() -> None:
        await rt.handle(recs[:5])
        rt.flush_dirty()  # the last snapshot: positions up to offset 5
        pub.down = True
        await rt.handle(recs[5:])
        assert _dead(reg) == 0 and pub.records == []  # not published, so not counted
        assert rt.monitors[0].positions[(topic, 0)] == 5  # rolled back to the snapshot
        pub.down = False
        await rt.reseek_out_of_step(lambda t, p: 21)
        assert seeks == [(topic, 0, 5)]
        await rt.handle(recs[5:])  # the records come again after the seek
        assert _dead(reg) == 1 and [r.value for r in pub.records] == [b"{bad"]
        consumed = reg.get_sample_value("stream_monitor_events_consumed_total",
                                        {"model": "fraud-detector", "version": "v1", "kind": "prediction"})
        assert consumed == 20  # the 15 events of the failed batch were not counted twice

    asyncio.run(main())


def test_a_dead_letter_fits_the_producer_whatever_the_consumer_received() -> None:
    s = _settings()
    limit = dead_letter_value_bytes(s)
    assert producer_request_bytes(s) > limit  # the producer takes the largest whole dead letter
    huge = b'{"x":"' + b"z" * (limit + 1000) + b'"}'
    pub = MemoryPublisher()

    async def no_seek(t: str, p: int, o: int) -> None:
        raise AssertionError("no gap expected")

    rt = Runtime(s, load_references(s), pub, None, MemoryStore(), no_seek)
    asyncio.run(rt.handle([SourceRecord("prediction", huge, s.topics.predictions, 0, 0, b"k", (("own", b"1"),))]))
    [dl] = pub.records
    headers = dict(dl.headers)
    assert headers["stream-monitor.reason"] == b"too_large"
    assert dl.value == huge[:limit] and dl.key == b"k" and headers["own"] == b"1"
    assert headers["stream-monitor.truncated"] == str(len(huge)).encode()
    assert headers["stream-monitor.sha256"] == hashlib.sha256(huge).hexdigest().encode()


def test_null_key_records_are_routed_by_model_id_once() -> None:
    """A null-key record is published again keyed by its model id (a batch envelope split per
    model); the copy is applied where it lands, and a copy published twice is applied once."""
    s = _settings()
    topic = s.topics.predictions
    events = list(generate(Scenario(seed=8), 6))
    stranger = {**events[5], "model_id": "stranger"}
    env = b'{"kind":"batch","events":[' + b",".join(to_json(e) for e in [*events[2:5], stranger]) + b"]}"
    pub = MemoryPublisher()

    async def no_seek(t: str, p: int, o: int) -> None:
        raise AssertionError("no gap expected")

    reg = CollectorRegistry()
    rt = Runtime(s, load_references(s), pub, MonitorMetrics(reg, lambda: rt.all_monitors()), MemoryStore(), no_seek)
    originals = [SourceRecord("prediction", to_json(events[0]), topic, 1, 0, None, (("trace", b"a"),)),
                 SourceRecord("prediction", env, topic, 1, 1, None)]
    asyncio.run(rt.handle(originals))
    routed = [r for r in pub.records if r.topic == topic]
    dead = [r for r in pub.records if r.topic == s.topics.dead_letter]
    assert [r.key for r in routed] == [b"fraud-detector", b"fraud-detector"]
    assert routed[0].value == to_json(events[0])
    assert routed[0].headers == (("trace", b"a"), ("stream-monitor.routed-from", b"1:0"))
    assert [dict(r.headers)["stream-monitor.reason"] for r in dead] == [b"unknown_model"]
    consumed = {"model": "fraud-detector", "version": "v1", "kind": "prediction"}
    assert reg.get_sample_value("stream_monitor_events_consumed_total", consumed) is None  # not applied in place

    # the copies land on the model's partition (here 0), one of them twice (a crash between
    # publishing and the snapshot publishes it again)
    copies = [SourceRecord("prediction", r.value, topic, 0, i, r.key, r.headers)
              for i, r in enumerate([routed[0], routed[1], routed[1]])]
    asyncio.run(rt.handle(copies))
    assert reg.get_sample_value("stream_monitor_events_consumed_total", consumed) == 4
    assert reg.get_sample_value("stream_monitor_replayed_records_skipped_total", {}) == 1
    assert len([r for r in pub.records if r.topic == topic]) == 2  # copies are not routed again


def test_a_log_that_ends_before_the_position_is_reprocessed_from_its_start() -> None:
    s = _settings()
    topic = s.topics.predictions
    events = [to_json(e) for e in generate(Scenario(seed=9), 30)]
    seeks: list[tuple[str, int, int]] = []

    async def seek(t: str, p: int, o: int) -> None:
        seeks.append((t, p, o))

    reg = CollectorRegistry()
    rt = Runtime(s, load_references(s), MemoryPublisher(), MonitorMetrics(reg, lambda: rt.all_monitors()),
                 MemoryStore(), seek)

    async def log_start(t: str, p: int) -> int | None:
        return 0

    async def main() -> None:
        await rt.handle([SourceRecord("prediction", v, topic, 0, i, b"fraud-detector") for i, v in enumerate(events)])
        assert await rt.check_log_resets(lambda t, p: 30, log_start) == []  # a log that reaches the position
        assert await rt.check_log_resets(lambda t, p: None, log_start) == []  # not fetched yet
        assert seeks == []
        assert await rt.check_log_resets(lambda t, p: 4, log_start) == [(topic, 0, 30, 0)]
        assert seeks == [(topic, 0, 0)] and rt.monitors[0].positions[(topic, 0)] == 0
        assert reg.get_sample_value("stream_monitor_offset_regressions_total", {"source": "predictions"}) == 1
        # the new log's records are applied, not skipped as replays
        await rt.handle([SourceRecord("prediction", v, topic, 0, i, b"fraud-detector")
                         for i, v in enumerate(events[:4])])
        consumed = reg.get_sample_value("stream_monitor_events_consumed_total",
                                        {"model": "fraud-detector", "version": "v1", "kind": "prediction"})
        assert consumed == 34
        assert not reg.get_sample_value("stream_monitor_replayed_records_skipped_total", {})

    asyncio.run(main())
