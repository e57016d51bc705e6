"""The fault matrix: input and broker faults against the real broker and the real worker process.

Each test is one row; it states the figure it checks (events counted, dead letters,
series, seconds). Expected counts come from what the test produced, never from the
worker's own output.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

from stream_monitor.tools.broker import EmbeddedBroker, free_port
from stream_monitor.tools.simulate import Scenario, generate, to_json

from .conftest import Stack
from .kafka_helpers import produce, read_topic, sample, wait_for
from .test_broker_outage import S3_ENV, s3  # noqa: F401 - the local S3 server fixture

pytestmark = [pytest.mark.integration, pytest.mark.broker]
MV = {"model": "fraud-detector", "version": "v1"}
_LEVEL = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")


def _consumed(text: str) -> float:
    return sample(text, "stream_monitor_events_consumed_total", kind="prediction", **MV) or 0.0


def _dead(text: str, reason: str) -> float:
    return sample(text, "stream_monitor_dead_letter_total", source="predictions", reason=reason) or 0.0


async def _produce_compressed(bootstrap: str, topic: str, values: list[bytes], codec: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, compression_type=codec)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=b"fraud-detector", partition=0) for v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def test_row0_every_producer_codec_is_consumed(stack: Stack) -> None:
    """Figure: events counted = 4 x 500, no dead letter, one worker process throughout."""
    worker = stack.worker().start()
    events = [to_json(e) for e in generate(Scenario(seed=60), 2000)]
    codecs = ["gzip", "snappy", "lz4", "zstd"]
    for i, codec in enumerate(codecs):
        asyncio.run(_produce_compressed(stack.broker.bootstrap, stack.topics["predictions"],
                                        events[i * 500:(i + 1) * 500], codec))
    wait_for(lambda: _consumed(worker.metrics()) == 2000, 90, what="every compressed event consumed")
    dead = [float(line.rpartition(" ")[2]) for line in worker.metrics().splitlines()
            if line.startswith("stream_monitor_dead_letter_total{")]
    assert dead and not any(dead)  # the counters exist (at 0) and none counted a dead letter
    assert worker.process is not None and worker.process.poll() is None
    assert "UnsupportedCodecError" not in worker.log_text()


class _RawKey(str):
    """A header key kafka-python's producer writes as these bytes (not valid UTF-8)."""

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return b"\xff\xfetrace"


def test_row1_a_non_utf8_header_key_is_dead_lettered_once_and_consumption_continues(stack: Stack) -> None:
    """Figure: 300 events counted, 1 dead letter (undecodable_record, with its partition and
    offset), the worker survives a restart without crash-looping."""
    worker = stack.worker().start()
    events = [to_json(e) for e in generate(Scenario(seed=61), 300)]
    topic = stack.topics["predictions"]
    producer = KafkaProducer(bootstrap_servers=stack.broker.bootstrap, acks="all", linger_ms=20)
    try:
        futures = [producer.send(topic, v, key=b"fraud-detector", partition=0) for v in events[:150]]
        bad = producer.send(topic, events[0], key=b"fraud-detector", partition=0,
                            headers=[(_RawKey("x"), b"1"), ("ok", b"2")])
        futures += [producer.send(topic, v, key=b"fraud-detector", partition=0) for v in events[150:]]
        producer.flush()
        bad_offset = bad.get(timeout=30).offset
        assert all(f.get(timeout=30) for f in futures)
    finally:
        producer.close()
    wait_for(lambda: _consumed(worker.metrics()) == 300, 90, what="the events around the bad record consumed")
    dlq = wait_for(lambda: read_topic(stack.broker.bootstrap, stack.topics["dlq"], quiet=1.0), 60,
                   what="the dead letter")
    assert len(dlq) == 1
    h = dlq[0].headers
    assert h["stream-monitor.reason"] == b"undecodable_record"
    assert (h["stream-monitor.partition"], h["stream-monitor.offset"]) == (b"0", str(bad_offset).encode())
    assert h["\\xff\\xfetrace"] == b"1" and h["ok"] == b"2" and dlq[0].value == events[0]
    assert _dead(worker.metrics(), "undecodable_record") == 1
    # A restart reads from the committed position: no crash loop, nothing counted twice.
    assert worker.stop() == 0
    worker.start()
    time.sleep(3)
    assert worker.process is not None and worker.process.poll() is None
    assert len(read_topic(stack.broker.bootstrap, stack.topics["dlq"], quiet=1.0)) == 1


def test_row2_oversized_records_are_dead_lettered_whole_or_cut_with_a_hash(stack: Stack) -> None:
    """Figure: a 2.5 MiB record is dead-lettered whole, a 6 MiB one (above the consumer's 4 MiB
    fetch size) cut to 4 MiB with its size and SHA-256; 200 events counted, too_large = 2, and
    the partitions do not stall (everything within the wait, far below the publisher's 600 s)."""
    worker = stack.worker().start()
    events = [to_json(e) for e in generate(Scenario(seed=62), 200)]
    mid = json.dumps({"pad": "y" * (5 * 1024 * 1024 // 2)}).encode()
    big = json.dumps({"pad": "z" * (6 * 1024 * 1024)}).encode()
    topic = stack.topics["predictions"]

    async def produce() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.broker.bootstrap, acks="all",
                                    max_request_size=16 * 1024 * 1024)
        await producer.start()
        try:
            for v in [*events[:100], mid, *events[100:150], big, *events[150:]]:
                await (await producer.send(topic, v, key=b"fraud-detector", partition=0))
        finally:
            await producer.stop()

    started = time.monotonic()
    asyncio.run(produce())
    wait_for(lambda: _consumed(worker.metrics()) == 200, 120, what="events around the large records")
    dlq = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(
        read_topic(stack.broker.bootstrap, stack.topics["dlq"], quiet=1.0)), 120, what="two dead letters")
    print(f"row 2: both dead letters after {time.monotonic() - started:.1f}s")  # noqa: T201 - the figure
    by_size = sorted(dlq, key=lambda r: len(r.value or b""))
    assert by_size[0].value == mid and "stream-monitor.truncated" not in by_size[0].headers
    cut = by_size[1]
    assert cut.headers["stream-monitor.reason"] == b"too_large"
    assert cut.headers["stream-monitor.truncated"] == str(len(big)).encode()
    assert cut.headers["stream-monitor.sha256"] == hashlib.sha256(big).hexdigest().encode()
    assert cut.value == big[: len(cut.value or b"")] and len(cut.value or b"") == 4 * 1024 * 1024
    assert _dead(worker.metrics(), "too_large") == 2
    assert Counter(r.headers["stream-monitor.reason"] for r in dlq) == {b"too_large": 2}


@pytest.mark.slow
def test_row10_a_minute_without_broker_logs_summaries_and_recovers(s3: str, tmp_path: Path) -> None:  # noqa: F811
    """Figure: log records at WARNING and above while the broker is down for 60 s (at most one
    a second; 6,783 in 60 s, 113 a second, measured without the repeat filter), summary lines with counts, then the same
    process consumes what is produced after the restart (events counted = 2 x 1000)."""
    env = {**S3_ENV, "AWS_ENDPOINT": s3}
    broker = EmbeddedBroker(free_port(), storage="s3://tansu/", env=env, log_path=tmp_path / "tansu.log").start()
    stack = Stack(broker, tmp_path, f"down{int(time.time()) % 100000}")
    try:
        stack.create_topics()
        worker = stack.worker().start(wait=False)
        worker.wait_ready(timeout=120)
        pid = worker.process.pid  # type: ignore[union-attr]
        events = [to_json(e) for e in generate(Scenario(seed=70), 2000)]
        produce(broker.bootstrap, stack.topics["predictions"], events[:1000])
        wait_for(lambda: _consumed(worker.metrics()) == 1000, 120, what="first half consumed")

        before = len(worker.log_text().splitlines())
        broker.stop(kill=True)
        down_at = time.monotonic()
        time.sleep(60)
        lines = worker.log_text().splitlines()[before:]
        down = time.monotonic() - down_at
        broker.start(timeout=30)
        records = [ln for ln in lines if _LEVEL.search(ln)]
        summaries = [ln for ln in records if "more ERROR lines like" in ln or "more WARNING lines like" in ln]
        print(f"row 10: {len(records)} log records at WARNING+ in {down:.0f}s down, "  # noqa: T201 - the figure
              f"{len(summaries)} summaries, {len(lines)} lines in all")
        assert len(records) <= down, "at most one log record a second while the broker is down"
        assert summaries, "repeats are summarised with their count"

        produce(broker.bootstrap, stack.topics["predictions"], events[1000:])
        wait_for(lambda: _consumed(worker.metrics()) == 2000, 180, what="second half consumed by the same process")
        time.sleep(5)
        text = worker.metrics()
        assert _consumed(text) == 2000  # nothing counted twice after the restart
        assert not sample(text, "stream_monitor_offset_regressions_total", source="predictions")
        assert worker.process is not None and worker.process.pid == pid and worker.process.poll() is None
        assert worker.stop() == 0
    finally:
        for w in stack.workers:
            if w.process is not None and w.process.poll() is None:
                w.kill()
        broker.stop()


def _healthz(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=3) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


async def _recreate(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
        await asyncio.sleep(3.0)  # the worker fetches the deleted (then empty) log meanwhile
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


def test_row5_a_recreated_topic_is_detected_and_reprocessed_from_its_start(stack: Stack) -> None:
    """Figure: 600 events, topic deleted and recreated, 300 new events: all 900 counted (none
    skipped as replays), offset regressions = 1, /healthz degraded (503) with the reason."""
    worker = stack.worker().start()
    topic = stack.topics["predictions"]
    first = [to_json(e) for e in generate(Scenario(seed=63), 600)]
    produce(stack.broker.bootstrap, topic, first)
    wait_for(lambda: _consumed(worker.metrics()) == 600, 90, what="the first log consumed")
    assert _healthz(worker.url)[0] == 200

    asyncio.run(_recreate(stack.broker.bootstrap, topic, stack.partitions))
    second = [to_json(e) for e in generate(Scenario(seed=64), 300)]
    produce(stack.broker.bootstrap, topic, second)
    wait_for(lambda: _consumed(worker.metrics()) == 900, 120, what="the new log consumed from its start")
    text = worker.metrics()
    assert sample(text, "stream_monitor_offset_regressions_total", source="predictions") == 1
    status, body = _healthz(worker.url)
    assert status == 503 and any("reset" in p and topic in p for p in body["problems"]), body
    assert "offset regression on " + topic in worker.log_text()
    time.sleep(3)
    assert _consumed(worker.metrics()) == 900  # nothing counted twice
    assert worker.process is not None and worker.process.poll() is None


def test_row6_null_key_records_keep_one_models_state_in_one_place(stack: Stack) -> None:
    """Figure: 6,000 null-key events spread over 2 partitions: 6,000 counted, every series of the
    model exposed once, one breach (a request and its updates) for the one change, and the state in one partition."""
    worker = stack.worker().start()
    topic = stack.topics["predictions"]
    events = [to_json(e) for e in generate(Scenario(kind="abrupt", change_at=2000, seed=65), 6000)]
    produce(stack.broker.bootstrap, topic, events, key=None)
    landed = Counter(r.partition for r in read_topic(stack.broker.bootstrap, topic, quiet=1.0) if r.key is None)
    assert len(landed) == 2, landed  # the producer spread them
    wait_for(lambda: _consumed(worker.metrics()) == 6000, 120, what="every null-key event counted once")
    text = worker.metrics()
    series = [ln.split(" ")[0] for ln in text.splitlines() if ln.startswith("stream_monitor_") and MV["model"] in ln]
    assert series and len(series) == len(set(series)), "a series exposed twice"
    requests = wait_for(lambda: read_topic(stack.broker.bootstrap, stack.topics["retrain"], quiet=2.0), 60,
                        what="the retrain request")
    time.sleep(3)
    requests = read_topic(stack.broker.bootstrap, stack.topics["retrain"], quiet=2.0)
    # one breach: a new request, and at most updates of it, each superseding the one before
    bodies = [json.loads(r.value or b"") for r in requests]
    assert bodies[0]["supersedes"] is None, bodies
    assert all(b["supersedes"] == a["request_id"] for a, b in zip(bodies, bodies[1:], strict=False)), bodies
    assert len({b["request_id"] for b in bodies}) == len(bodies) <= 3
    status = json.loads(urllib.request.urlopen(worker.url + "/status.json", timeout=5).read())
    assert [m["model"] for m in status["models"]] == [MV["model"]]  # one monitor holds the model
