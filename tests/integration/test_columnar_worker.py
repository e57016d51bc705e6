"""The client's columnar envelopes through the real broker and worker: the same windows and
retrain requests as the same events sent in row envelopes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from stream_monitor.client import MonitorClient
from stream_monitor.tools.broker import EmbeddedBroker
from stream_monitor.tools.simulate import Scenario, generate

from .conftest import Stack
from .kafka_helpers import read_topic, sample, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]
MV = {"model": "fraud-detector", "version": "v1"}
N = 10_000


def _run(broker: EmbeddedBroker, tmp: Path, events: list[dict[str, Any]], columnar: bool) -> dict[str, Any]:
    stack = Stack(broker, tmp, f"col{int(columnar)}-{os.getpid()}-{int(time.time()) % 100000}")
    stack.create_topics()
    t = stack.topics
    worker = stack.worker().start()
    try:
        client = MonitorClient(broker.bootstrap, "fraud-detector", "v1", batch_size=500, columnar=columnar,
                               predictions_topic=t["predictions"], features_topic=t["features"],
                               labels_topic=t["labels"], block=True, block_timeout_seconds=30.0)
        for e in events:
            client.log_prediction(e["prediction"], features=e["features"], score=e["score"],
                                  event_id=e["event_id"], timestamp=e["timestamp"], latency_ms=e["latency_ms"],
                                  attributes=e["attributes"])
        assert client.flush(60)
        client.close()
        stats = client.stats
        assert (stats.sent, stats.delivered, stats.dropped, stats.pending) == (N, N, 0, 0)
        wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
                 == N, 120, what=f"{N} events consumed")
        time.sleep(1.0)  # windows close with the event that fills them; nothing more is coming
        text = worker.metrics()
        kinds = {json.loads(r.value or b"{}")["kind"] for r in read_topic(broker.bootstrap, t["predictions"],
                                                                          quiet=1.5)}
        requests = [json.loads(r.value or b"") for r in read_topic(broker.bootstrap, t["retrain"], quiet=2.0)]
        dead = read_topic(broker.bootstrap, t["dlq"], quiet=1.0)
        reasons = [sorted((x["feature"], x["detector"], x["window"]["index"]) for x in r["reasons"])
                   for r in requests]
        return {"kinds": kinds, "windows": sample(text, "stream_monitor_windows_closed_total", **MV),
                "requests": [(r["request_id"], r["supersedes"], why) for r, why in zip(requests, reasons, strict=True)],
                "dead": len(dead)}
    finally:
        worker.stop(timeout=30)


def test_columnar_envelopes_give_the_windows_and_requests_of_row_envelopes(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    events = list(generate(Scenario(kind="abrupt", change_at=6000, seed=21), N))
    rows = _run(broker, tmp_path, events, columnar=False)
    cols = _run(broker, tmp_path, events, columnar=True)
    assert rows["kinds"] == {"batch"} and cols["kinds"] == {"columns"}
    assert rows["requests"], "the drift makes at least one request"
    assert rows["windows"] is not None and rows["windows"] >= 10
    assert {k: v for k, v in cols.items() if k != "kinds"} == {k: v for k, v in rows.items() if k != "kinds"}
    assert cols["dead"] == 0
