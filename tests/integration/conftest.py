"""Integration fixtures: a real Kafka-protocol broker (embedded Tansu) for the session,
and worker processes started exactly as users start them (`stream-monitor run`)."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_monitor.tools.broker import EmbeddedBroker, free_port
from stream_monitor.tools.kafka_admin import create_topics
from tests.conftest import ROOT

from .kafka_helpers import scrape, wait_for

_ids = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    b = EmbeddedBroker(free_port(), log_path=log).start()
    yield b
    b.stop()


@dataclass
class Stack:
    """Names of one test's topics and consumer group, isolated from other tests."""

    broker: EmbeddedBroker
    tmp: Path
    name: str
    partitions: int = 2
    overrides: dict[str, Any] = field(default_factory=dict)
    # config/demo.yaml's label path (labels, fairness): off for the tests of the drift path,
    # which send no labels
    label_path: bool = False
    workers: list[Worker] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, str]:
        return {k: f"{self.name}-{k}" for k in ("predictions", "features", "labels", "retrain", "dlq")}

    def config(self) -> Path:
        data = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
        t = self.topics
        data["topics"] = {
            "predictions": t["predictions"], "features": t["features"], "labels": t["labels"],
            "retrain_requests": t["retrain"], "dead_letter": t["dlq"], "partitions": self.partitions,
        }
        data["worker"].update({"app_id": self.name, "snapshot_interval_seconds": 0.5})
        data["models"][0]["reference"]["profile"] = str(ROOT / "config" / "fraud-detector.profile.json")
        if not self.label_path:
            for model in data["models"]:
                model.pop("labels", None)
                model.pop("fairness", None)
        _merge(data, self.overrides)
        path = self.tmp / f"{self.name}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    def create_topics(self) -> None:
        create_topics(self.broker.bootstrap, list(self.topics.values()), self.partitions)

    def worker(self) -> Worker:
        w = Worker(self, len(self.workers))
        self.workers.append(w)
        return w


def _merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


@dataclass
class Worker:
    stack: Stack
    number: int
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.stack.tmp / f"{self.stack.name}-worker{self.number}.log"

    def start(self, wait: bool = True) -> Worker:
        env = {**os.environ, "STREAM_MONITOR_WORKER__DATA_DIR": str(self.stack.tmp / f"data{self.number}")}
        cmd = [sys.executable, "-m", "stream_monitor", "run", "--config", str(self.stack.config()),
               "--bootstrap-servers", self.stack.broker.bootstrap, "--web-port", str(self.port)]
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts} ===\n".encode())
            log.flush()
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        self.starts += 1
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}; see {self.log_path}")
            return 'stream_monitor_worker_ready 1.0' in scrape(self.url + "/metrics")

        wait_for(ready, timeout, what=f"worker {self.number} ready")

    def metrics(self) -> str:
        return scrape(self.url + "/metrics")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise AssertionError(f"worker did not stop on SIGTERM within {timeout}s") from None
        return self.process.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def stack(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(broker, tmp_path, f"t{os.getpid()}-{next(_ids)}-{int(time.time()) % 100000}")
    s.create_topics()
    yield s
    for w in s.workers:
        with contextlib.suppress(AssertionError):
            w.stop(timeout=30)


# Session fixture shared by the ops tests (alert delivery, dashboards, status page);
# imported here so that the three modules share one instance.
from .ops_stack import ops_stack  # noqa: E402, F401
