"""The broker stops for 30 s under load and comes back: the worker recovers by itself.

Tansu keeps topics and committed offsets across its own restart only with S3
storage, so this test runs a local S3 server (moto) behind it. While the broker
is down, /healthz reports it and stream_monitor_broker_reachable is 0; after the
restart the same worker process consumes everything, lag returns to zero and
the persisted state equals the oracle's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream_monitor.tools.broker import EmbeddedBroker, free_port, wait_for_port
from stream_monitor.tools.simulate import Scenario, generate, to_json

from .conftest import Stack
from .kafka_helpers import produce, sample, wait_for
from .oracle import comparable, expected_state, persisted_state

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.broker]
S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
          "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("moto_server") or str(Path(os.sys.executable).parent / "moto_server")  # type: ignore[attr-defined]
    port = free_port()
    with (tmp_path / "moto.log").open("wb") as log:
        proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port("127.0.0.1", port, 20)
        endpoint = f"http://127.0.0.1:{port}"
        req = urllib.request.Request(endpoint + "/tansu", method="PUT")  # create the bucket
        urllib.request.urlopen(req, timeout=10).close()  # noqa: S310 - local moto server
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


def _health(url: str) -> int:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=3) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_worker_survives_a_30s_broker_outage(s3: str, tmp_path: Path) -> None:
    env = {**S3_ENV, "AWS_ENDPOINT": s3}
    broker = EmbeddedBroker(free_port(), storage="s3://tansu/", env=env, log_path=tmp_path / "tansu.log").start()
    stack = Stack(broker, tmp_path, f"outage{int(time.time()) % 100000}")
    stack.overrides = {"worker": {"stall_after_seconds": 5.0}}
    try:
        stack.create_topics()
        worker = stack.worker().start(wait=False)
        worker.wait_ready(timeout=120)
        pid = worker.process.pid  # type: ignore[union-attr]
        events = [to_json(e) for e in generate(Scenario(kind="abrupt", change_at=6000, seed=51), 12_000)]
        produce(broker.bootstrap, stack.topics["predictions"], events[:6000])
        wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", model="fraud-detector",
                                version="v1", kind="prediction") == 6000, 120, what="first half consumed")

        broker.stop(kill=True)
        wait_for(lambda: sample(worker.metrics(), "stream_monitor_broker_reachable") == 0, 20,
                 what="the probe noticing the outage")
        wait_for(lambda: _health(worker.url) == 503, 30, what="/healthz reporting the outage")
        time.sleep(max(0.0, 30 - 8))  # about 30 s down in all
        broker.start(timeout=30)

        produce(broker.bootstrap, stack.topics["predictions"], events[6000:])  # load after the restart
        wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", model="fraud-detector",
                                version="v1", kind="prediction") >= 6000 + 6000, 180,
                 what="second half consumed by the same process")
        assert worker.process is not None and worker.process.pid == pid and worker.process.poll() is None
        wait_for(lambda: _health(worker.url) == 200, 60, what="healthy again")
        wait_for(lambda: all(v == 0 for line in worker.metrics().splitlines()
                             if line.startswith("stream_monitor_consumer_lag{") for v in [float(line.split()[-1])]),
                 60, what="lag back to zero")
        expected, _ = expected_state(stack)
        topic = stack.topics["predictions"]
        wait_for(lambda: all(comparable(persisted_state(stack).get(p, {"positions": [], "models": {}}), topic)
                             == comparable(s, topic) for p, s in expected.items()), 120,
                 what="persisted state equal to the oracle")
        assert worker.stop() == 0
    finally:
        for w in stack.workers:
            if w.process is not None and w.process.poll() is None:
                w.kill()
        broker.stop()
