"""The worker's faust app takes its consumer settings from ours (no broker needed)."""

from __future__ import annotations

import asyncio

from stream_monitor.app.worker import MonitorApp
from stream_monitor.settings import ServiceSettings
from tests.conftest import ROOT


def test_worker_consumer_fetch_wait_comes_from_settings() -> None:
    """faust fixes the fetch wait at 1500 ms; the worker's consumer takes
    ``worker.fetch_max_wait_ms`` instead (the embedded broker holds a fetch for part of
    it even when records arrive, so it bounds every request's latency)."""
    s = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    s = s.model_copy(update={"worker": s.worker.model_copy(update={"fetch_max_wait_ms": 250})})
    app = MonitorApp(s, {"fraud-detector": None}).app

    async def build() -> int:
        consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
        try:
            return int(consumer._fetch_max_wait_ms)
        finally:
            await consumer.stop()  # never started: only marks it closed

    assert asyncio.run(build()) == 250
    assert ServiceSettings().worker.fetch_max_wait_ms == 100


def test_worker_turns_faust_events_into_source_records() -> None:
    """Headers arrive as a list of pairs (aiokafka), a mapping, or nothing at all."""
    from types import SimpleNamespace

    from stream_monitor.pipeline.monitor import SourceRecord

    s = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    mon = MonitorApp(s, {"fraud-detector": None})
    topic = s.topics.predictions

    def event(headers: object) -> object:
        return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=2, offset=7, key=b"k", value=b"{}",
                                                       headers=headers))

    base = SourceRecord("prediction", b"{}", topic, 2, 7, b"k", ())
    assert mon._record(event(None)) == base
    assert mon._record(event([])) == base
    assert mon._record(event([("trace", b"1"), ("empty", None)])) == base._replace(
        headers=(("trace", b"1"), ("empty", b"")))
    assert mon._record(event({"trace": b"1"})) == base._replace(headers=(("trace", b"1"),))
