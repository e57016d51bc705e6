"""A large batch reaches the core in slices, and the event loop turns between them.

faust hands the worker up to ``batch_max_events`` records at once; with batch
envelopes that can be tens of thousands of events, which held the loop for a
second and more (``/metrics`` and ``/healthz`` did not answer meanwhile). The
runtime feeds the core slices of at most ``worker.slice_max_bytes``; what the
monitor ends up with must not depend on how the batch was cut.
"""

from __future__ import annotations

import asyncio
import json
import math
import zlib
from typing import Any

import pytest

from stream_monitor.app.faust_io import TURNS_BETWEEN_SLICES, slices
from stream_monitor.app.runtime import Runtime
from stream_monitor.config.references import load_references
from stream_monitor.pipeline.monitor import SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.sinks.topics import MemoryPublisher
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.tools.traffic import envelope
from tests.conftest import ROOT, MemoryStore


async def _no_seek(topic: str, partition: int, offset: int) -> None:
    raise AssertionError("no gap expected")


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 12 digits: window sums of squares are added per slice, so their rounding
    depends on where a batch is cut (as it does on how faust cut the batches in the first place)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _records(settings: ServiceSettings) -> list[SourceRecord]:
    events = [to_json(e) for e in generate(Scenario(kind="abrupt", change_at=4_000, seed=5), 8_000)]
    values = [envelope(events[i:i + 500]) for i in range(0, len(events), 500)]
    return [SourceRecord("prediction", v, settings.topics.predictions, 0, i, b"fraud-detector")
            for i, v in enumerate(values)]


def test_slices_keep_order_and_the_byte_bound() -> None:
    recs = [SourceRecord("prediction", b"x" * n, "t", 0, i) for i, n in enumerate([5, 5, 5, 20, 1, 1, 9])]
    pieces = list(slices(recs, 10))
    assert [r for p in pieces for r in p] == recs
    assert [[len(r.value or b"") for r in p] for p in pieces] == [[5, 5], [5], [20], [1, 1], [9]]
    assert list(slices([], 10)) == []


@pytest.mark.parametrize("label_path", [False, True], ids=["drift-path", "with-label-path"])
def test_a_batch_cut_into_slices_ends_in_the_same_state_and_lets_the_loop_turn(label_path: bool) -> None:
    def run(slice_bytes: int) -> tuple[bytes, int, list[bytes]]:
        settings = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
        if not label_path:  # config/demo.yaml's model without its label path (labels, fairness)
            settings.models = [m.model_copy(update={"labels": None, "fairness": None}) for m in settings.models]
        settings.worker.slice_max_bytes = slice_bytes
        publisher, store = MemoryPublisher(), MemoryStore()
        runtime = Runtime(settings, load_references(settings), publisher, None, store, _no_seek,
                          clock=lambda: 1.9e9)
        turns = 0

        async def main() -> None:
            nonlocal turns
            done = asyncio.Event()

            async def ticker() -> None:
                nonlocal turns
                while not done.is_set():
                    turns += 1
                    await asyncio.sleep(0)

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            turns = 0
            await runtime.handle(_records(settings))
            done.set()
            await task

        asyncio.run(main())
        runtime.flush_dirty()
        requests = [p.value or b"" for p in publisher.records if p.topic == settings.topics.retrain_requests]
        return store.blobs[0], turns, requests

    whole, turns_whole, requests_whole = run(64 * 1_048_576)
    sliced, turns_sliced, requests_sliced = run(40_000)  # about one envelope of 500 events per slice
    state_whole, state_sliced = (json.loads(zlib.decompress(b)) for b in (whole, sliced))
    assert state_sliced["positions"] == state_whole["positions"] and state_whole["positions"]
    assert _same(state_sliced, state_whole)  # the same counts, windows, CUSUMs and decisions
    assert requests_sliced == requests_whole and requests_whole  # the abrupt change is decided once, alike
    assert turns_whole == 0  # one slice: the loop did not turn inside handle()
    # 16 envelopes, one slice each: the loop turned between them, several times (a fetch's
    # socket reads need one turn per 256 KiB, so one turn per slice starved the consumer)
    assert turns_sliced >= 15 * TURNS_BETWEEN_SLICES
