"""Nothing lost: SIGKILLed and restarted workers end with exactly the oracle's state.

The oracle recomputes, from the source topic, the window statistics an
exactly-once consumer would hold. The worker's last persisted snapshot must
equal it bin for bin, and every retrain request on the topic must carry an id
the oracle also decided (re-publication after a crash repeats the same id).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter

import pytest

from stream_monitor.tools.simulate import Scenario, generate, to_json

from .conftest import Stack, Worker
from .kafka_helpers import produce, read_topic, sample, wait_for
from .oracle import comparable, expected_state, persisted_state

pytestmark = [pytest.mark.integration, pytest.mark.broker]


def _produce_in_background(stack: Stack, events: list[bytes], chunks: int, pause: float) -> threading.Thread:
    def run() -> None:
        size = len(events) // chunks
        for i in range(chunks):
            produce(stack.broker.bootstrap, stack.topics["predictions"], events[i * size:(i + 1) * size])
            time.sleep(pause)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _consumed(worker: Worker) -> float:
    return sample(worker.metrics(), "stream_monitor_events_consumed_total", model="fraud-detector",
                  version="v1", kind="prediction") or 0.0


def _windows(state: dict) -> dict:  # type: ignore[type-arg]
    return {f"{m}/{v}": (d["window"]["index"], d["window"]["n"]) if d.get("window") else None
            for m, ms in state.get("models", {}).items() for v, d in ms.get("versions", {}).items()}


def _settle_and_compare(stack: Stack, worker: Worker, total: int) -> None:
    expected, expected_ids = expected_state(stack)
    topic = stack.topics["predictions"]

    def caught_up() -> bool:
        got = persisted_state(stack)
        return all(comparable(got.get(p, {"positions": [], "models": {}}), topic) == comparable(s, topic)
                   for p, s in expected.items())

    try:
        wait_for(caught_up, 120, interval=2.0, what="persisted state equal to the oracle")
    except AssertionError:
        got = persisted_state(stack)
        for p, s in expected.items():
            g = got.get(p, {"positions": [], "models": {}})
            raise AssertionError(f"partition {p}: oracle positions {s['positions']} vs persisted {g['positions']}; "
                                 f"oracle windows {_windows(s)} vs persisted {_windows(g)}") from None
    assert worker.stop() == 0
    got = persisted_state(stack)
    for p, state in expected.items():
        assert comparable(got[p], topic) == comparable(state, topic), f"partition {p} differs from the oracle"
        assert got[p]["pending"] == []
    positions = sum(o for s in got.values() for t, _, o in s["positions"] if t == stack.topics["predictions"])
    assert positions == total
    # state stays bounded whatever the event count and the rebalances (no growth like faust #385):
    # one live version, one open window, no raw events, a few tens of kilobytes encoded
    for state in got.values():
        versions = [v for m in state["models"].values() for v in m["versions"].values()]
        assert len(versions) <= 1
        assert len(json.dumps(state)) < 200_000
    published = [json.loads(r.value or b"")["request_id"] for r in read_topic(stack.broker.bootstrap,
                                                                               stack.topics["retrain"])]
    assert set(published) == expected_ids, "every decided request is published, and only those"


def test_sigkill_mid_window_loses_nothing_and_repeats_no_request(stack: Stack) -> None:
    events = [to_json(e) for e in generate(Scenario(kind="abrupt", change_at=8000, seed=31), 20_000)]
    worker = stack.worker().start()
    producer = _produce_in_background(stack, events, chunks=10, pause=0.4)
    wait_for(lambda: _consumed(worker) > 5000, 60, what="some events consumed")
    worker.kill()  # mid-window: 1000-event windows, kill lands anywhere
    producer.join()
    worker.start()
    wait_for(lambda: _consumed(worker) > 0, 60, what="events consumed after restart")
    _settle_and_compare(stack, worker, len(events))
    assert "state restored" in worker.log_text().split("=== start 1 ===")[1]  # from the changelog


@pytest.mark.slow
def test_repeated_random_kills_and_the_rebalance_race(stack: Stack) -> None:
    """Kill at random points, restart, stop again within seconds (the faust race), restart."""
    rnd = random.Random(1234)
    events = [to_json(e) for e in generate(Scenario(kind="gradual", change_at=20_000, seed=32), 60_000)]
    worker = stack.worker().start()
    producer = _produce_in_background(stack, events, chunks=30, pause=0.3)
    for _ in range(3):
        time.sleep(rnd.uniform(1.0, 4.0))
        worker.kill()
        worker.start()
        time.sleep(rnd.uniform(0.3, 2.0))
        worker.stop()  # SIGTERM seconds after recovery: records fetched around the resume
        worker.start()
    producer.join()
    _settle_and_compare(stack, worker, len(events))


@pytest.mark.slow
def test_two_workers_failover_and_scale_1_2_1(stack: Stack) -> None:
    stack.partitions = 2
    events = [to_json(e) for e in generate(Scenario(kind="stationary", seed=33, model_id="fraud-detector"),
                                           22_000)]
    events_a, tail = events[:20_000], events[20_000:]
    w1 = stack.worker().start()
    producer = _produce_in_background(stack, events_a, chunks=20, pause=0.3)
    time.sleep(2)
    w2 = stack.worker().start()  # scale 1 -> 2: a rebalance under load
    time.sleep(3)
    w1.kill()  # the other member takes over the partitions and their state
    producer.join()
    # On a loaded machine w1 may have read every record before it died; records produced
    # after the kill can only be read by the survivor, so it must consume them.
    produce(stack.broker.bootstrap, stack.topics["predictions"], tail)
    wait_for(lambda: _consumed(w2) > 0, 120, what="survivor consuming")  # a group rebalance on a loaded machine
    _settle_and_compare(stack, w2, len(events))
    counts = Counter(p for p in persisted_state(stack))
    assert counts  # state exists for the model's partition
