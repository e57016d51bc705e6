"""KServe's inference logger, as it sends, through the real sidecar process into the real broker
and the real worker, ending in a drift window and a retrain request.

The demo model's stream (stationary, then drifted) is sent as KServe would log a
model server's traffic: binary-mode CloudEvents with KServe's headers, V1 bodies
(``instances`` / ``predictions``) for one InferenceService and Open Inference Protocol
v2 bodies (``inputs`` / ``outputs`` tensors) for another, batches of rows per
inference, some responses before their requests, a structured-mode CloudEvent, one
request whose response never comes and one malformed tensor. The sidecar's
``/metrics`` count each; the worker's count what arrived.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from stream_monitor.tools.broker import free_port
from stream_monitor.tools.simulate import Scenario, generate
from tests.unit.sidecar.test_sidecar_kserve import kserve_headers

from .conftest import Stack
from .kafka_helpers import read_topic, sample, scrape, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

NUMERIC = ["amount", "age", "account_age_days"]
CATEGORICAL = ["merchant_category", "country"]
MAPPING = {"kserve": [
    {"inference_service": "fraud-v1", "model_id": "fraud-detector", "model_version": "v1",
     "features": {name: {"key": name} for name in NUMERIC + CATEGORICAL},
     "prediction": {}, "score": {}},
    {"inference_service": "fraud-v2", "namespace": "default", "model_id": "fraud-detector", "model_version": "v1",
     "features": {**{n: {"tensor": "dense", "column": i} for i, n in enumerate(NUMERIC)},
                  **{n: {"tensor": "categorical", "column": i} for i, n in enumerate(CATEGORICAL)}},
     "prediction": {"tensor": "label"}, "score": {"tensor": "probability"}},
]}
ROWS = 50  # rows per inference request


class SidecarProcess:
    def __init__(self, stack: Stack) -> None:
        mapping = stack.tmp / "mapping.yaml"
        mapping.write_text(yaml.safe_dump(MAPPING))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path: Path = stack.tmp / "sidecar.log"
        t = stack.topics
        cmd = [sys.executable, "-m", "stream_monitor", "sidecar", "--bootstrap-servers", stack.broker.bootstrap,
               "--port", str(self.port), "--mapping", str(mapping), "--predictions-topic", t["predictions"],
               "--features-topic", t["features"], "--labels-topic", t["labels"], "--pair-timeout-seconds", "2",
               "--linger-ms", "5"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        wait_for(lambda: self.healthz() == 200, 30, 0.2, what="sidecar healthy")

    def healthz(self) -> int:
        if self.process.poll() is not None:
            raise AssertionError(f"sidecar exited with {self.process.returncode}: {self.log_path.read_text()}")
        return self.post("/healthz", None, {})[0]

    def post(self, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path, data=body, headers=headers,  # noqa: S310 - local
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - local URL
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def metric(self, name: str, **labels: str) -> float | None:
        return sample(scrape(self.url + "/metrics"), "stream_monitor_sidecar_" + name, **labels)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        return self.process.returncode


@pytest.fixture
def sidecar(stack: Stack) -> Iterator[SidecarProcess]:
    s = SidecarProcess(stack)
    yield s
    if s.process.poll() is None:
        s.process.kill()
        s.process.wait(10)


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def v1_bodies(rows: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    request = {"instances": [r["features"] for r in rows]}
    response = {"predictions": [r["score"] for r in rows]}
    return json.dumps(request).encode(), json.dumps(response).encode()


def v2_bodies(rows: list[dict[str, Any]], ce_id: str) -> tuple[bytes, bytes]:
    n = len(rows)
    request = {"id": ce_id, "inputs": [
        {"name": "dense", "shape": [n, 3], "datatype": "FP32",
         "data": [r["features"][k] for r in rows for k in NUMERIC]},  # row-major, flattened
        {"name": "categorical", "shape": [n, 2], "datatype": "BYTES",
         "data": [[r["features"][k] for k in CATEGORICAL] for r in rows]},  # nested
    ]}
    response = {"model_name": "fraud-v2", "model_version": None, "id": ce_id, "parameters": None, "outputs": [
        {"name": "label", "shape": [n], "datatype": "INT64", "parameters": None,
         "data": [r["prediction"] for r in rows]},
        {"name": "probability", "shape": [n], "datatype": "FP32", "parameters": None,
         "data": [r["score"] for r in rows]},
    ]}
    return json.dumps(request).encode(), json.dumps(response).encode()


def send_inference(s: SidecarProcess, ce_id: str, rows: list[dict[str, Any]], service: str,
                   response_first: bool) -> None:
    req, resp = v1_bodies(rows) if service == "fraud-v1" else v2_bodies(rows, ce_id)
    t = _rfc3339(rows[0]["timestamp"])
    posts = [(kserve_headers(ce_id, "request", service, t), req),
             (kserve_headers(ce_id, "response", service, _rfc3339(rows[0]["timestamp"] + 0.004)), resp)]
    for headers, body in reversed(posts) if response_first else posts:
        status, answer = s.post("/", body, headers)
        assert status == 200, answer


def structured(ce_id: str, side: str, data: bytes) -> bytes:
    attrs = {k[3:].lower(): v for k, v in kserve_headers(ce_id, side, "fraud-v1").items() if k.startswith("Ce-")}
    return json.dumps({**attrs, "datacontenttype": "application/json", "data": json.loads(data)}).encode()


def test_kserve_logger_traffic_to_a_retrain_request(stack: Stack, sidecar: SidecarProcess) -> None:
    t = stack.topics
    worker = stack.worker().start()
    events = list(generate(Scenario(kind="abrupt", change_at=6000, seed=21), 10_000))
    mv = {"model": "fraud-detector", "version": "v1"}

    # 1. stationary part over V1, every fourth response first; the last inference in structured mode
    for n, lo in enumerate(range(0, 6000 - ROWS, ROWS)):
        send_inference(sidecar, f"v1-{n}", events[lo:lo + ROWS], "fraud-v1", response_first=n % 4 == 0)
    req, resp = v1_bodies(events[6000 - ROWS:6000])
    for side, body in (("response", resp), ("request", req)):
        ce = structured("v1-last", side, body)
        assert sidecar.post("/", ce, {"Content-Type": "application/cloudevents+json"})[0] == 200
    # a request whose response never comes, and a v2 tensor whose data does not fill its shape
    assert sidecar.post("/", v1_bodies(events[:ROWS])[0], kserve_headers("lost", "request", "fraud-v1"))[0] == 200
    bad = {"inputs": [{"name": "dense", "shape": [2, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}]}
    status, answer = sidecar.post("/", json.dumps(bad).encode(), kserve_headers("bad", "request", "fraud-v2"))
    assert status == 400 and answer["problems"][0]["field"] == "inputs[0].data"

    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **mv)
             == 6000, 90, what="6000 stationary events consumed")
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_windows_closed_total", **mv) == 6, 20,
             what="six windows closed")
    assert read_topic(stack.broker.bootstrap, t["retrain"], quiet=2.0) == []

    # 2. drifted part over Open Inference Protocol v2, every third response first
    for n, lo in enumerate(range(6000, 10_000, ROWS)):
        send_inference(sidecar, f"v2-{n}", events[lo:lo + ROWS], "fraud-v2", response_first=n % 3 == 0)
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **mv)
             == 10_000, 90, what="10,000 events consumed")
    wait_for(lambda: read_topic(stack.broker.bootstrap, t["retrain"], quiet=1.0), 60, what="a retrain request")
    bodies = [json.loads(r.value or b"") for r in read_topic(stack.broker.bootstrap, t["retrain"], quiet=2.0)]
    assert bodies[0]["model_id"] == "fraud-detector" and bodies[0]["supersedes"] is None
    assert {r["feature"] for r in bodies[0]["reasons"]} & {"amount", "country"}
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_model_drift_state",
                            stream_monitor_model_drift_state="drift", **mv) == 1, 60, what="a drift window")

    # 3. the sidecar counted every CloudEvent and event; nothing invalid reached the worker
    wait_for(lambda: sidecar.metric("kserve_unpaired_total", side="request", reason="expired") == 1, 10,
             what="the unpaired request expired")
    assert sidecar.metric("events_delivered_total") == 10_000
    assert sidecar.metric("events_dropped_total", reason="invalid") == 0
    assert sidecar.metric("kserve_paired_total") == 200
    assert sidecar.metric("kserve_rejected_total", reason="bad_shape") == 1
    assert sidecar.metric("kserve_cloudevents_total", side="request") == 202
    assert sidecar.metric("kserve_unpaired_total", side="response", reason="expired") == 0
    worker_text = worker.metrics()
    assert (sample(worker_text, "stream_monitor_dead_letter_total", source="predictions", reason="schema_violation")
            or 0) == 0
    assert sidecar.stop() == 0
    assert "delivered 10000, dropped 0" in sidecar.log_path.read_text()
