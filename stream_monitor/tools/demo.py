"""``make demo``: the embedded broker, the worker and drifting traffic, end to end.

1. starts the embedded Tansu broker on a free port;
2. starts ``stream-monitor run`` on ``config/demo.yaml`` (a subprocess, as in production);
3. produces stationary traffic, then traffic with an abrupt shift in ``amount``
   and ``country``, plus a few malformed records; ground-truth labels follow for a
   share of the predictions, each a little later, as production labels do
   (:mod:`stream_monitor.tools.traffic`);
4. shows a live summary scraped from ``/metrics``;
5. prints the retrain request read back from the retrain topic and the label path's
   last readings (:mod:`stream_monitor.tools.demo_watch`), then stops everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from stream_monitor.config.groups import TopicSettings
from stream_monitor.settings import ServiceSettings
from stream_monitor.tools.broker import EmbeddedBroker, free_port
from stream_monitor.tools.demo_watch import drift_line, http_get, label_line, metric_sum, read_requests
from stream_monitor.tools.kafka_admin import create_topics
from stream_monitor.tools.traffic import (
    DEMO_CHANGE_AT,
    DEMO_EVENTS,
    LABEL_DELAY_SECONDS,
    demo_labels,
    demo_predictions,
    malformed,
    produce,
    send_traffic,
)

__all__ = ["run_demo"]

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


def run_demo(events: int = DEMO_EVENTS, change_at: int = DEMO_CHANGE_AT, workdir: Path = Path(".demo")) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    # kafka-python warns when its I/O thread is slow (a busy machine): not the demo's summary
    logging.getLogger("kafka").setLevel(logging.ERROR)
    settings = ServiceSettings.from_yaml(CONFIG)
    t = settings.topics
    broker_port, web_port = free_port(), free_port()
    print(f"[demo] starting the embedded Kafka-protocol broker (Tansu) on 127.0.0.1:{broker_port}")
    broker = EmbeddedBroker(broker_port, log_path=workdir / "broker.log").start()
    worker: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    try:
        create_topics(broker.bootstrap, [t.predictions, t.features, t.labels, t.retrain_requests, t.dead_letter],
                      t.partitions)
        worker = _start_worker(broker, broker_port, web_port, workdir)
        base = f"http://127.0.0.1:{web_port}"
        if not _wait_ready(worker, base, workdir):
            return 1
        found: list[dict[str, Any]] = []
        reader = threading.Thread(
            target=lambda: asyncio.run(read_requests(broker.bootstrap, t.retrain_requests, found, stop)), daemon=True
        )
        reader.start()
        text = _run_traffic(broker, t, events, change_at, base, found)
        stop.set()
        reader.join(5)
        return _summary(found, text, t, base, workdir)
    finally:
        stop.set()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()


def _start_worker(broker: EmbeddedBroker, broker_port: int, web_port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STREAM_MONITOR_WORKER__DATA_DIR": str(workdir / "state"),
           "STREAM_MONITOR_WORKER__APP_ID": f"stream-monitor-demo-{broker_port}"}
    cmd = [sys.executable, "-m", "stream_monitor", "run", "--config", str(CONFIG),
           "--bootstrap-servers", broker.bootstrap, "--web-port", str(web_port)]
    print(f"[demo] starting the worker: {' '.join(cmd[2:])}")
    with open(workdir / "worker.log", "wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603


def _wait_ready(worker: subprocess.Popen[bytes], base: str, workdir: Path) -> bool:
    deadline = time.monotonic() + 120
    while http_get(base + "/readyz")[0] != 200:
        if worker.poll() is not None or time.monotonic() > deadline:
            print("[demo] the worker did not become ready; see", workdir / "worker.log")
            return False
        time.sleep(0.5)
    print(f"[demo] worker ready; metrics at {base}/metrics, status page at {base}/status")
    return True


def _run_traffic(broker: EmbeddedBroker, t: TopicSettings, events: int, change_at: int, base: str,
                 found: list[dict[str, Any]]) -> str:
    """Produce the demo's traffic and print a live line a second until the request and every
    event are in (at most 90 s); return the last ``/metrics`` text."""
    predictions = demo_predictions(events, change_at, time.time())
    labels = demo_labels(predictions)
    print(f"[demo] producing {events} prediction events at ~2000/s; drift in amount and country "
          f"from event {change_at}; plus {len(malformed(0))} malformed records; labels for "
          f"{len(labels)} of the predictions, {LABEL_DELAY_SECONDS[0]:g}-{LABEL_DELAY_SECONDS[1]:g} s later")
    producer = threading.Thread(target=send_traffic, args=(broker.bootstrap, t.predictions, t.labels,
                                                           predictions, labels), daemon=True)
    producer.start()
    produce(broker.bootstrap, t.predictions, malformed(time.time()), key=b"fraud-detector")
    deadline = time.monotonic() + 90
    text = ""
    while time.monotonic() < deadline:
        time.sleep(1.0)
        status, text = http_get(base + "/metrics")
        consumed = {kind: int(metric_sum(text, "stream_monitor_events_consumed_total", kind=kind))
                    for kind in ("prediction", "label")}
        print(
            f"[live] consumed={consumed['prediction']:>6} labels={consumed['label']:>5} "
            f"windows={int(metric_sum(text, 'stream_monitor_windows_closed_total')):>3} "
            f"dead-lettered={int(metric_sum(text, 'stream_monitor_dead_letter_total'))} "
            f"{drift_line(text)} retrain-requests={len(found)}",
            flush=True,
        )
        if (found and not producer.is_alive() and consumed["prediction"] >= events
                and consumed["label"] >= len(labels)):
            break
    return text


def _summary(found: list[dict[str, Any]], text: str, t: TopicSettings, base: str, workdir: Path) -> int:
    if not found:
        print("[demo] no retrain request arrived; see", workdir / "worker.log")
        return 1
    print(f"\n[demo] retrain request received on topic {t.retrain_requests!r}:")
    print(json.dumps(found[0], indent=2))
    if len(found) > 1:
        print(f"[demo] and {len(found) - 1} more; the last: severity {found[-1].get('severity')}, "
              f"features {found[-1].get('features')}, supersedes {found[-1].get('supersedes')}")
    print(f"\n[demo] label path: {label_line(text)}")
    print(f"\n[demo] Prometheus metrics were served at {base}/metrics (worker log: {workdir / 'worker.log'})")
    return 0
