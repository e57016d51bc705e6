"""One drifted stream seen by a real worker, Prometheus, Alertmanager and a webhook receiver.

Shared (session scope) by the alert delivery, dashboard and status page tests:
one worker start and one Prometheus warm-up instead of three. Everything binds
127.0.0.1 on ports from 30000-32767; Prometheus and Alertmanager run in their
own sessions (setsid) with their own data directories and are stopped by pid.

The stream goes through the sidecar client (:mod:`stream_monitor.client`), so
these tests also prove that what the client sends is what the worker monitors.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_monitor.client import MonitorClient
from stream_monitor.tools.broker import EmbeddedBroker, free_port, wait_for_port
from stream_monitor.tools.simulate import Scenario, generate, stamped_from
from tests.conftest import ROOT
from tests.tool_markers import program

from .conftest import Stack, Worker
from .kafka_helpers import produce, read_topic, sample, wait_for

MV = {"model": "fraud-detector", "version": "v1"}
EVENTS = 6000
CHANGE_AT = 3000  # windows 1-3 stationary, 4-6 drifted: drift state after window 5
DRIFT_ALERTS = {"critical": "ModelDrift", "warning": "ModelDriftWarning"}
REPO_PROMETHEUS: dict[str, Any] = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
SCRAPE_SECONDS = int(REPO_PROMETHEUS["global"]["scrape_interval"].rstrip("s"))
UNKNOWN_FEATURE = "session_length"  # not configured: counted by unknown_features_total


class Webhook:
    """An Alertmanager webhook receiver: every POST body, with its path, in arrival order."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.received_at: list[float] = []  # time.time() of each POST
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer._lock:
                    outer.posts.append((self.path, json.loads(body or b"{}")))
                    outer.received_at.append(time.time())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def alerts(self) -> list[tuple[str, dict[str, Any]]]:
        """(receiver path, alert) for every alert in every notification so far."""
        with self._lock:
            return [(path, a) for path, body in self.posts for a in body.get("alerts", [])]

    def notifications(self) -> list[tuple[float, str, dict[str, Any]]]:
        """(arrival time, receiver path, body) of every notification so far."""
        with self._lock:
            return [(t, path, body) for t, (path, body) in zip(self.received_at, self.posts, strict=True)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def _start(name: str, args: list[str], port: int, tmp: Path) -> Service:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    try:
        wait_for_port("127.0.0.1", port, timeout=15)
    except Exception:
        proc.kill()
        raise AssertionError(f"{name} did not start; see {log}:\n{log.read_text(errors='replace')[-2000:]}") from None
    return Service(name, proc, f"http://127.0.0.1:{port}", log)


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """The repository's alertmanager.yml unchanged (routing tree, timers, inhibition), every
    receiver pointed at the test webhook."""
    cfg: dict[str, Any] = yaml.safe_load((ROOT / "prometheus" / "alertmanager.yml").read_text())
    for receiver in cfg["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/{receiver['name']}"
    return cfg


def start_alertmanager(tmp: Path, webhook_url: str) -> Service:
    port = free_port()
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump(alertmanager_config(webhook_url)))
    args = [program("alertmanager"), f"--config.file={cfg}",
            f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=", "--log.level=warn"]
    return _start("alertmanager", args, port, tmp)


def start_prometheus(tmp: Path, worker_port: int, alertmanager_url: str) -> Service:
    """prometheus/prometheus.yml with its intervals and rule files unchanged; only the addresses
    (worker, Alertmanager) are this stack's, and Prometheus' self-scrape job is left out."""
    port = free_port()
    for name in ("alerts.yml", "recording.yml"):
        shutil.copy(ROOT / "prometheus" / name, tmp / name)
    job = next(j for j in REPO_PROMETHEUS["scrape_configs"] if j["job_name"] == "stream-monitor")
    config = {
        "global": REPO_PROMETHEUS["global"],
        "rule_files": [str(tmp / "recording.yml"), str(tmp / "alerts.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_url.split("//", 1)[1]]}]}]},
        "scrape_configs": [{**job, "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]}],
    }
    cfg = tmp / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    args = [program("prometheus"), f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    return _start("prometheus", args, port, tmp)


def prom_query(prometheus_url: str, expr: str, range_seconds: float = 0, step: str = "5s") -> dict[str, Any]:
    """Run an instant query (or a range query over the last ``range_seconds``); return the API's ``data``.

    A PromQL error fails with Prometheus' message.
    """
    params = {"query": expr}
    endpoint = "query"
    if range_seconds:
        now = time.time()
        params.update(start=f"{now - range_seconds:.3f}", end=f"{now:.3f}", step=step)
        endpoint = "query_range"
    url = f"{prometheus_url}/api/v1/{endpoint}?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - local test URL
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"Prometheus refused {expr!r}: {exc.read().decode(errors='replace')}") from None
    assert body["status"] == "success", body
    data: dict[str, Any] = body["data"]
    return data


@dataclass
class OpsStack:
    stack: Stack
    worker: Worker
    prometheus: Service
    alertmanager: Service
    webhook: Webhook
    retrain_request_ids: list[str] = field(default_factory=list)
    drifted_features: set[str] = field(default_factory=set)
    requests: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (published at, request)

    def query(self, expr: str, range_seconds: float = 0) -> dict[str, Any]:
        return prom_query(self.prometheus.url, expr, range_seconds)


def _model_with_label_path() -> dict[str, Any]:
    """The demo model with its label path sized for this stack's 600 labels (config/demo.yaml's
    is sized for the demo's ~3,600), so that the performance and fairness panels have data too."""
    model = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["models"][0]
    model["reference"]["profile"] = str(ROOT / "config" / "fraud-detector.profile.json")
    # one prediction in ten is labelled: the reference period's first 1,000 predictions give 100 pairs
    model["labels"] = {"task": "binary", "window_pairs": 100, "min_pairs": 50, "learn_first_n": 1000}
    model["fairness"] = {"groups": {"region": ["north", "south"]}, "min_group_size": 50}
    return model


def _feed(stack: Stack, worker: Worker) -> None:
    """The drifted stream through the sidecar client, plus labels, features and bad records.

    The stream pauses at the change point until the worker has closed the stationary windows
    and Prometheus (1 s scrapes) has seen them: sent in one go, the whole stream is processed
    between two scrapes and state-change panels (``changes(...)``) would see no change."""
    t = stack.topics
    client = MonitorClient(stack.broker.bootstrap, "fraud-detector", "v1", batch_size=250, max_queue=EVENTS * 3,
                           predictions_topic=t["predictions"], features_topic=t["features"],
                           labels_topic=t["labels"])
    # stamped with the current time, as live traffic is: the processing-lag panels and
    # ProcessingLagHigh then see the worker's lag, not the age of a fixed date
    scenario = stamped_from(Scenario(kind="abrupt", change_at=CHANGE_AT, seed=21), time.time() - 30, 100.0)
    for i, e in enumerate(generate(scenario, EVENTS)):
        if i == CHANGE_AT:
            assert client.flush(60), client.stats
            wait_for(lambda: sample(worker.metrics(), "stream_monitor_windows_closed_total", **MV)
                     == CHANGE_AT // 1000, 60, what="the stationary windows closed")
            time.sleep(2 * SCRAPE_SECONDS + 1)  # two scrapes of the stationary state
        features = e["features"] if not 100 <= i < 150 else {**e["features"], UNKNOWN_FEATURE: 12.0}
        client.log_prediction(e["prediction"], features=features, score=e["score"], event_id=e["event_id"],
                              timestamp=e["timestamp"], latency_ms=e["latency_ms"], attributes=e["attributes"])
        if i % 10 == 0:
            client.log_label(e["event_id"], e["score"] >= 0.5, timestamp=e["timestamp"] + 60)
    assert client.flush(60), client.stats
    client.close()
    stats = client.stats
    assert stats.dropped == stats.failed == stats.invalid == 0, stats
    produce(stack.broker.bootstrap, t["predictions"], [b"{not json", b'{"event_id": "x"}'])


@dataclass
class Monitoring:
    """A worker of a stack, scraped by Prometheus, which alerts through Alertmanager to a webhook."""

    worker: Worker
    prometheus: Service
    alertmanager: Service
    webhook: Webhook


@contextlib.contextmanager
def monitoring(stack: Stack) -> Iterator[Monitoring]:
    """Start Alertmanager, a worker of ``stack`` and Prometheus (the repository's configs), wait
    until the worker is ready; on exit stop them all, the worker last but the webhook."""
    webhook = Webhook()
    services: list[Service] = []
    worker = stack.worker()
    try:
        services.append(start_alertmanager(stack.tmp, webhook.url))
        worker.start(wait=False)
        # Prometheus scrapes the first time ~5 s after start: start it while the worker joins.
        services.append(start_prometheus(stack.tmp, worker.port, services[0].url))
        worker.wait_ready()
        yield Monitoring(worker, services[1], services[0], webhook)
    finally:
        for service in reversed(services):
            service.stop()
        try:
            worker.stop(timeout=30)
        except AssertionError:
            worker.kill()
        webhook.stop()


@pytest.fixture(scope="session")
def ops_stack(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStack]:
    tmp = tmp_path_factory.mktemp("ops")
    stack = Stack(broker, tmp, f"ops{os.getpid()}-{int(time.time()) % 100000}")
    stack.overrides = {"models": [_model_with_label_path()]}
    stack.create_topics()
    with monitoring(stack) as live:
        worker = live.worker
        _feed(stack, worker)
        wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
                 == EVENTS, 90, what="every event consumed")
        # whole windows, and the ones the CUSUM alarms closed early (the first alarm and its corroboration)
        wait_for(lambda: (sample(worker.metrics(), "stream_monitor_windows_closed_total", **MV) or 0)
                 >= EVENTS // 1000, 90, what="every whole window closed")
        assert sample(worker.metrics(), "stream_monitor_model_drift_state",
                      stream_monitor_model_drift_state="drift", **MV) == 1
        requests = read_topic(broker.bootstrap, stack.topics["retrain"], quiet=1.5)
        ops = OpsStack(stack, worker, live.prometheus, live.alertmanager, live.webhook)
        for r in requests:
            req = json.loads(r.value or b"{}")
            ops.retrain_request_ids.append(req["request_id"])
            ops.requests.append((r.timestamp_ms / 1000, req))
            # drift-path reasons only; label-path detectors are named like "performance:accuracy"
            ops.drifted_features |= {x["feature"] for x in req["reasons"] if ":" not in x["detector"]}
        yield ops
