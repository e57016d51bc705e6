"""Faults on a live worker: a blocked event loop, a crash between deciding and
publishing, and a fuzzed stream carrying a PII canary. Expected counts come from
the pure core run over the same records (the oracle), never from constants."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from stream_monitor.config.references import load_references
from stream_monitor.pipeline.monitor import Monitor, SourceRecord
from stream_monitor.settings import ServiceSettings
from stream_monitor.tools.simulate import Scenario, generate, to_json

from .conftest import Stack
from .kafka_helpers import produce, read_topic, sample, wait_for
from .oracle import expected_state

pytestmark = [pytest.mark.integration, pytest.mark.broker]
MV = {"model": "fraud-detector", "version": "v1"}
CANARY = "canary.7f3a9b@pii-test.example"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - local test URL
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_blocked_event_loop_is_detected_and_reported(stack: Stack) -> None:
    stack.overrides = {"faults": {"block_loop_seconds": 6.0, "block_after_batches": 1},
                       "worker": {"loop_block_limit_seconds": 2.0}}
    worker = stack.worker().start()
    assert _status(worker.url + "/healthz") == 200
    events = [to_json(e) for e in generate(Scenario(seed=41), 3000)]
    produce(stack.broker.bootstrap, stack.topics["predictions"], events)
    wait_for(lambda: "event loop blocked for" in worker.log_text(), 60, what="the watchdog's warning")
    wait_for(lambda: (sample(worker.metrics(), "stream_monitor_event_loop_blocked_total") or 0) >= 1, 30,
             what="the blocked-loop counter")
    assert _status(worker.url + "/healthz") == 503  # reported after the loop runs again
    assert "File " in worker.log_text()  # the stack of the blocking code was logged
    # not a silent stop: everything is processed once the handler returns
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
             == 3000, 60, what="all events consumed after the block")


def test_crash_between_deciding_and_publishing_publishes_once_after_restart(stack: Stack) -> None:
    stack.overrides = {"faults": {"crash_before_publish": True}}
    worker = stack.worker().start()
    events = [to_json(e) for e in generate(Scenario(kind="abrupt", change_at=2000, seed=42), 6000)]
    produce(stack.broker.bootstrap, stack.topics["predictions"], events)
    assert worker.process is not None
    wait_for(lambda: worker.process.poll() is not None, 90, what="the injected crash")  # type: ignore[union-attr]
    assert worker.process.returncode == 137
    assert read_topic(stack.broker.bootstrap, stack.topics["retrain"], quiet=1.0) == []
    worker.start()
    wait_for(lambda: len(read_topic(stack.broker.bootstrap, stack.topics["retrain"], quiet=1.0)) >= 1, 90,
             what="the request published after restart")
    wait_for(lambda: "state restored" in worker.log_text(), 30, what="state restored")
    _, expected_ids = expected_state(stack)
    published = [json.loads(r.value or b"")["request_id"]
                 for r in read_topic(stack.broker.bootstrap, stack.topics["retrain"], quiet=3.0)]
    # the breach and any update of it (each a request of its own), each published once
    assert expected_ids and len(published) == len(set(published))
    assert sorted(published) == sorted(expected_ids), "exactly once by id"


Mutation = Callable[[bytes, dict[str, Any], random.Random], "bytes | None"]

# (cumulative chance, how one good event is spoiled); the rest are sent as they are
_MUTATIONS: list[tuple[float, Mutation]] = [
    (0.05, lambda raw, e, rng: raw[: rng.randint(1, len(raw) - 1)]),  # truncated JSON
    (0.10, lambda raw, e, rng: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))),  # random bytes
    (0.13, lambda raw, e, rng: raw.replace(b'"age":', b'"age":NaN,"x":')),
    (0.16, lambda raw, e, rng: raw.replace(b'"amount":', b'"amount":1e999,"y":')),
    (0.18, lambda raw, e, rng: b"[" * rng.randint(300, 3000) + b"]"),
    (0.20, lambda raw, e, rng: None),  # tombstone
    (0.23, lambda raw, e, rng: to_json({**e, "model_id": f"m-{rng.getrandbits(40):x}"})),  # unknown models
    (0.26, lambda raw, e, rng: to_json({**e, "features": {**e["features"], f"f{rng.getrandbits(32):x}": 1.0}})),
    (0.29, lambda raw, e, rng: to_json({**e, "prediction": {"nested": [1, 2]}})),  # wrong type
    (0.31, lambda raw, e, rng: to_json({**e, "pad": "z" * 70_000})),  # oversized
    (0.34, lambda raw, e, rng: to_json({**e, "features": {**e["features"], "country": CANARY}})),  # PII in a category
    (0.36, lambda raw, e, rng: to_json({**e, "features": {CANARY: {"v": CANARY}}})),  # PII in a malformed record
    (0.37, lambda raw, e, rng: b'{"event_id": "' + CANARY.encode() + b'", broken'),
]


def _fuzz_records(rng: random.Random) -> list[bytes | None]:
    good = list(generate(Scenario(seed=43), 400))
    out: list[bytes | None] = []
    for i, e in enumerate(good):
        roll = rng.random()
        raw = to_json(e)
        spoil = next((m for chance, m in _MUTATIONS if roll < chance), None)
        out.append(raw if spoil is None else spoil(raw, e, rng))
        if i == 100:
            out.append(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")  # a pickle: never unpickled
    return out


def test_fuzzed_stream_counts_exactly_and_never_leaks_the_canary(stack: Stack) -> None:
    stack.overrides = {"limits": {"max_message_bytes": 65_536}}
    worker = stack.worker().start()
    values = _fuzz_records(random.Random(4242))
    produce(stack.broker.bootstrap, stack.topics["predictions"], values)

    settings = ServiceSettings.from_yaml(stack.config())
    oracle = Monitor(settings.models, load_references(settings), max_message_bytes=65_536)
    recs = [SourceRecord("prediction", v, stack.topics["predictions"], 0, i) for i, v in enumerate(values)]
    out = oracle.observe(recs, now=0.0)
    want_dead = Counter(d.reason for d in out.dead_letters)
    want_consumed = out.consumed[("fraud-detector", "v1", "prediction")]
    assert len(want_dead) >= 6 and want_consumed > 250  # the fuzz really covers the reasons

    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
             == want_consumed, 60, what="every good event consumed")
    dlq = wait_for(lambda: (lambda r: r if len(r) == sum(want_dead.values()) else None)(
        read_topic(stack.broker.bootstrap, stack.topics["dlq"], quiet=1.0)), 60, what="every dead letter")
    assert Counter(r.headers["stream-monitor.reason"].decode() for r in dlq) == want_dead
    text = worker.metrics()
    for reason, n in want_dead.items():
        assert sample(text, "stream_monitor_dead_letter_total", source="predictions", reason=reason) == n
    assert worker.process is not None and worker.process.poll() is None  # still running

    # the canary never appears in logs, metrics, dead-letter reasons or retrain requests
    assert CANARY not in worker.log_text()
    assert CANARY not in text and "canary" not in text
    for r in dlq:
        assert CANARY.encode() not in r.headers["stream-monitor.message"]
    for r in read_topic(stack.broker.bootstrap, stack.topics["retrain"], quiet=1.0):
        assert CANARY.encode() not in (r.value or b"")
    # the cardinality attack (random model ids and feature names) adds no series
    assert "m-" not in text.replace("stream_monitor", "")
