"""The sidecar client against the real broker (Tansu): what it sends is what the worker decodes,
what it counts as delivered is on the topic, and a broker killed under it costs counted events,
bounded memory and a bounded close, never a silent loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.workload import encoded_events
from stream_monitor.client import MonitorClient
from stream_monitor.tools.broker import EmbeddedBroker, free_port
from stream_monitor.tools.kafka_admin import create_topics
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.validation import Rejection, decode
from tests.conftest import ROOT

from .kafka_helpers import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.broker]


def _name(tag: str) -> str:
    return f"{tag}{os.getpid()}-{time.monotonic_ns() % 10**9}"


def _events_on(bootstrap: str, topic: str) -> list[str]:
    """Event ids in every envelope (columnar or row) on the topic."""
    out: list[str] = []
    for r in read_topic(bootstrap, topic, quiet=2.0, timeout=120):
        doc = json.loads(r.value or b"{}")
        out.extend(doc["event_id"] if doc["kind"] == "columns" else [e["event_id"] for e in doc["events"]])
    return out


def test_client_batches_reach_the_broker_and_decode(broker: EmbeddedBroker) -> None:
    name = _name("client")
    topics = {k: f"{name}-{k}" for k in ("predictions", "features", "labels")}
    create_topics(broker.bootstrap, list(topics.values()), 2)
    client = MonitorClient(broker.bootstrap, "fraud-detector", "v1", batch_size=100,
                           predictions_topic=topics["predictions"], features_topic=topics["features"],
                           labels_topic=topics["labels"])
    events = list(generate(Scenario(seed=5), 1200))
    for e in events:
        client.log_prediction(e["prediction"], features=e["features"], score=e["score"], event_id=e["event_id"],
                              timestamp=e["timestamp"], latency_ms=e["latency_ms"], attributes=e["attributes"])
    with client.prediction({"amount": 10.0, "country": "DE"}) as p:
        p.score = 0.25
    client.log_features(p.event_id, {"age": 40.0})
    client.log_label(p.event_id, False)
    assert client.flush(30)
    client.close()
    stats = client.stats
    assert (stats.sent, stats.delivered, stats.dropped, stats.pending) == (1203, 1203, 0, 0)

    records = read_topic(broker.bootstrap, topics["predictions"], quiet=1.5)
    assert len(records) < 100, "events must travel many per Kafka message"
    assert {r.key for r in records} == {b"fraud-detector"}
    decoded = [e for r in records for e in decode(r.value, "prediction", max_bytes=1 << 20)]
    assert not [e for e in decoded if isinstance(e, Rejection)]
    by_id = {e.event_id: e for e in decoded}
    assert len(decoded) == len(by_id) == 1201
    for e in events[::97]:
        got = by_id[e["event_id"]]
        assert got.features == e["features"] and got.score == e["score"] and got.latency_ms == e["latency_ms"]
    assert by_id[p.event_id].score == 0.25

    (feat,) = [e for r in read_topic(broker.bootstrap, topics["features"], quiet=1.0)
               for e in decode(r.value, "feature", max_bytes=1 << 20)]
    (label,) = [e for r in read_topic(broker.bootstrap, topics["labels"], quiet=1.0)
                for e in decode(r.value, "label", max_bytes=1 << 20)]
    assert feat.event_id == label.event_id == p.event_id and label.label is False


def _bursts(client: MonitorClient, rows: list[dict[str, Any]], bursts: int, rate: float, tag: str) -> int:
    """``bursts`` bursts of one second at ``rate`` events per second, half a second apart."""
    n = 0
    for b in range(bursts):
        started = time.monotonic()
        for i in range(int(rate)):
            while i > (time.monotonic() - started) * rate:  # paced, never faster than the rate
                time.sleep(0.0005)
            r = rows[i % len(rows)]
            client.log_prediction(r["prediction"], features=r["features"], score=r["score"],
                                  event_id=f"{tag}-{b}-{i}", attributes=r["attributes"])
            n += 1
        time.sleep(0.5)
    return n


@pytest.mark.parametrize("block", [True, False], ids=["backpressure", "bounded-buffer"])
def test_bursts_at_30k_events_per_second(broker: EmbeddedBroker, block: bool) -> None:
    """Fault row 12: bursts at 30k events/s. With ``block=True`` nothing is dropped and every
    event is on the topic; without, a small buffer may drop, but only counted drops, and
    exactly the events counted as delivered are on the topic."""
    topic = _name("burst")
    create_topics(broker.bootstrap, [topic], 1)
    rows = [json.loads(e) for e in encoded_events(5000)]
    client = MonitorClient(broker.bootstrap, "model-000", "v1", predictions_topic=topic, block=block,
                           block_timeout_seconds=30.0, max_queue=20_000 if block else 2_000)
    sent = _bursts(client, rows, 3, 30_000, topic)
    client.flush(60)
    client.close()
    stats = client.stats
    print(f"bursts (block={block}): {stats}")
    assert stats.sent == sent == 90_000 and stats.pending == 0 and stats.balanced
    if block:
        assert stats.delivered == sent and stats.dropped == 0
    else:
        assert set(stats.dropped_by) <= {"buffer_full"}
    on_topic = _events_on(broker.bootstrap, topic)
    assert len(on_topic) == len(set(on_topic)) == stats.delivered


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of the test's own, to be killed."""
    b = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    yield b
    b.stop(kill=True)


def _run_app(broker: EmbeddedBroker, tmp_path: Path, seconds: float, kill_at: float,
             rate: float = 20_000) -> tuple[list[dict[str, Any]], dict[str, Any], str, float]:
    """The app process logging at ``rate`` for ``seconds``; the broker is SIGKILLed at
    ``kill_at`` seconds (once something was delivered). Returns the reports before the
    kill, the final report, the app's stderr and the RSS when the broker was killed."""
    topic = _name("kill")
    create_topics(broker.bootstrap, [topic], 1)
    stderr = tmp_path / "app.stderr"
    with stderr.open("wb") as err:
        app = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.client_fault_app", broker.bootstrap, topic,
             "--rate", str(rate), "--seconds", str(seconds)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    reports: list[dict[str, Any]] = []
    rss_at_kill = -1.0
    with app:
        try:
            assert app.stdout is not None
            for line in app.stdout:
                report = json.loads(line)
                reports.append(report)
                if report.get("final"):
                    break
                if rss_at_kill < 0 and report["t"] >= kill_at and report["stats"]["delivered"] > 0:
                    broker.stop(kill=True)
                    rss_at_kill = report["rss"]
            app.wait(60)
        finally:
            if app.poll() is None:
                app.kill()
                app.wait(10)
    assert app.returncode == 0 and reports and reports[-1].get("final"), stderr.read_text()[-3000:]
    assert rss_at_kill > 0, "the broker was never killed: nothing delivered before the kill time"
    return reports[:-1], reports[-1], stderr.read_text(), rss_at_kill


def _check_outage(reports: list[dict[str, Any]], final: dict[str, Any], stderr: str, rss_at_kill: float,
                  rss_bound: float, close_timeout: float = 5.0) -> float:
    stats = final["stats"]
    # the client's default budget holds at every report: 20,000 events, 16 MiB
    assert all(r["stats"]["pending"] <= 20_000 and r["stats"]["pending_bytes"] <= 16 * 2**20 for r in reports)
    # every event logged is delivered or dropped with a reason; nothing is left pending
    assert stats["sent"] == final["logged"]
    assert stats["pending"] == 0 and stats["sent"] == stats["delivered"] + stats["dropped"]
    assert sum(stats["dropped_by"].values()) == stats["dropped"] > 0
    assert set(stats["dropped_by"]) <= {"buffer_full", "timeout", "broker_error", "closed"}
    # close() within its timeout (slack for a busy machine), and quietly
    assert final["close_seconds"] <= close_timeout + 1.5
    assert "Traceback" not in stderr and "Unclosed" not in stderr and "never retrieved" not in stderr, stderr[-2000:]
    # the outage is reported, not flooded: each kind of message once a minute at most
    minutes = final["seconds"] / 60 + 1
    assert 0 < len(stderr.splitlines()) <= 10 * minutes, stderr[-2000:]
    # memory stays bounded while the broker is gone
    growth = max(r["rss"] for r in reports if r["rss"] and r["t"] > 0) - rss_at_kill
    assert growth < rss_bound
    return growth


def test_broker_killed_mid_stream(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Fault row 11: SIGKILL of the broker while an app logs 20k events/s."""
    reports, final, stderr, rss_at_kill = _run_app(own_broker, tmp_path, seconds=10, kill_at=3)
    # RSS: the buffer's byte budget (16 MiB) and 10 MB for everything else
    growth = _check_outage(reports, final, stderr, rss_at_kill, rss_bound=26 * 2**20)
    print(f"broker killed: {final['logged']:,} events in {final['seconds']:.1f} s, {final['stats']}, "
          f"close {final['close_seconds']:.2f} s, RSS growth after the kill {growth / 2**20:.1f} MB")


@pytest.mark.slow
def test_sixty_second_outage_at_20k_events_per_second(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    """A 60 s broker outage at 20k events/s: RSS grows less than 50 MB, every event is counted."""
    reports, final, stderr, rss_at_kill = _run_app(own_broker, tmp_path, seconds=64, kill_at=3)
    growth = _check_outage(reports, final, stderr, rss_at_kill, rss_bound=50 * 2**20)
    outage = [r for r in reports if r["rss"] and r["t"] >= 3]
    assert outage[-1]["t"] - outage[0]["t"] >= 59
    print(f"60 s outage: {final['logged']:,} events in {final['seconds']:.1f} s, {final['stats']}, "
          f"close {final['close_seconds']:.2f} s, RSS growth {growth / 2**20:.1f} MB")
