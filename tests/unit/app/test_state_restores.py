"""Reading a partition's state is counted by its result: restored, reset (a model's
configuration changed) or unreadable (the partition starts fresh, never half-applied)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from stream_monitor.app.runtime import Runtime
from stream_monitor.config.references import load_references
from stream_monitor.pipeline.monitor import SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.sinks.topics import MemoryPublisher
from stream_monitor.tools.simulate import Scenario, generate, to_json
from tests.conftest import ROOT, MemoryStore


def _runtime(settings: ServiceSettings, store: MemoryStore) -> tuple[Runtime, CollectorRegistry]:
    reg = CollectorRegistry()

    async def seek(t: str, p: int, o: int) -> None:
        return None

    rt = Runtime(settings, load_references(settings), MemoryPublisher(), None, store, seek)
    rt.metrics = MonitorMetrics(reg, rt.all_monitors)
    return rt, reg


def _counts(reg: CollectorRegistry) -> dict[str, float | None]:
    return {r: reg.get_sample_value("stream_monitor_state_restores_total", {"result": r})
            for r in ("restored", "reset", "unreadable")}


def test_restores_are_counted_by_result_and_an_unreadable_state_starts_fresh() -> None:
    settings = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    topic = settings.topics.predictions
    events = [to_json(e) for e in generate(Scenario(seed=4), 40)]
    store = MemoryStore()
    first, _ = _runtime(settings, store)
    recs = [SourceRecord("prediction", v, topic, 0, i, b"fraud-detector") for i, v in enumerate(events)]
    asyncio.run(first.handle(recs))
    first.flush_dirty()
    assert store.get(0) is not None  # partition 0's state is in the table

    again, reg = _runtime(settings, store)
    assert _counts(reg) == {"restored": 0.0, "reset": 0.0, "unreadable": 0.0}  # every series from the start
    mon = asyncio.run(again.monitor_for(0))
    assert mon.view(models=()).positions == {(topic, 0): 40}
    assert _counts(reg) == {"restored": 1.0, "reset": 0.0, "unreadable": 0.0}

    store.blobs[1] = b"not a snapshot"
    fresh = asyncio.run(again.monitor_for(1))
    assert fresh.view(models=()).positions == {}
    assert _counts(reg) == {"restored": 1.0, "reset": 0.0, "unreadable": 1.0}


def test_a_model_whose_configuration_changed_is_counted_as_reset() -> None:
    settings = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    topic = settings.topics.predictions
    store = MemoryStore()
    first, _ = _runtime(settings, store)
    events = [to_json(e) for e in generate(Scenario(seed=5), 30)]
    asyncio.run(first.handle([SourceRecord("prediction", v, topic, 0, i, b"fraud-detector")
                              for i, v in enumerate(events)]))
    first.flush_dirty()
    spec = settings.models[0]
    changed = spec.model_copy(update={"window": spec.window.model_copy(update={"events": spec.window.events + 1})})
    again, reg = _runtime(settings.model_copy(update={"models": [changed, *settings.models[1:]]}), store)
    asyncio.run(again.monitor_for(0))
    assert _counts(reg) == {"restored": 0.0, "reset": 1.0, "unreadable": 0.0}
