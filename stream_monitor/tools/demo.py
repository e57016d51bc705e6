"""``make demo``: the embedded broker, the worker and drifting traffic, end to end.

1. starts the embedded Tansu broker on a free port;
2. starts ``stream-monitor run`` on ``config/demo.yaml`` (a subprocess, as in production);
3. produces stationary traffic, then traffic with an abrupt shift in ``amount``
   and ``country``, plus a few malformed records; ground-truth labels follow for a
   share of the predictions, each a little later, as production labels do;
4. shows a live summary scraped from ``/metrics``;
5. prints the retrain request read back from the retrain topic and the label path's
   last readings, then stops everything.
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
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from stream_monitor.settings import ServiceSettings
from stream_monitor.tools.broker import EmbeddedBroker, create_topics, free_port
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.tools.simulate_labels import demo_truth, label_events
from stream_monitor.tools.traffic import produce

__all__ = ["demo_labels", "demo_predictions", "demo_scenario", "malformed", "run_demo",
           "send_traffic"]

DEMO_RATE = 2000.0  # events per second, produced and stamped
DEMO_EVENTS, DEMO_CHANGE_AT = 12_000, 6_000  # predictions, and the first drifted one
# A share of the predictions gets its ground truth (e.g. the transactions whose outcome is
# confirmed), later than the prediction: production's minutes to days, compressed to seconds.
LABEL_SHARE = 0.3
LABEL_DELAY_SECONDS = (0.5, 2.0)
CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


def demo_scenario(change_at: int, now: float) -> Scenario:
    """The demo stream, stamped from ``now`` on at the rate it is produced: the processing
    lag (and the ProcessingLagHigh alert) then measures the worker, not the age of a fixed date."""
    return Scenario(kind="abrupt", change_at=change_at, seed=11, start_time=now, events_per_second=DEMO_RATE)


def demo_predictions(events: int, change_at: int, now: float, start: int = 0) -> list[dict[str, Any]]:
    """Prediction events ``start`` to ``events - 1`` of the demo stream, the first stamped ``now``."""
    return list(generate(demo_scenario(change_at, now - start / DEMO_RATE), events - start, start=start))


def demo_labels(predictions: list[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Label events for ``LABEL_SHARE`` of ``predictions`` (drawn from their calibrated
    scores), each ``LABEL_DELAY_SECONDS`` after its prediction, in the order they come."""
    truth = demo_truth(predictions, seed)
    return label_events(predictions, truth, coverage=LABEL_SHARE, delay_seconds=LABEL_DELAY_SECONDS,
                        shuffle=False, seed=seed)


def _when_due(labels: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for label in labels:
        wait = label["timestamp"] - time.time()
        if wait > 0:
            time.sleep(wait)
        yield to_json(label)


def send_traffic(bootstrap: str, predictions_topic: str, labels_topic: str, predictions: list[dict[str, Any]],
                 labels: list[dict[str, Any]]) -> None:
    """Produce ``predictions`` at ``DEMO_RATE`` and each label at its own timestamp; return when all are sent."""
    key = predictions[0]["model_id"].encode() if predictions else None
    sender = threading.Thread(target=produce, args=(bootstrap, labels_topic, _when_due(labels)),
                              kwargs={"key": key}, daemon=True)
    sender.start()
    produce(bootstrap, predictions_topic, (to_json(e) for e in predictions), key=key, rate=DEMO_RATE)
    sender.join()


def malformed(now: float) -> list[bytes]:
    """Records the worker must dead-letter, each for its own reason (stamped ``now``, so that
    none is refused for its timestamp instead)."""
    ts = int(now)
    return [
        b"{not json",
        b'{"event_id": "x1", "model_id": "fraud-detector"}',
        b'{"event_id":"x2","model_id":"fraud-detector","model_version":"v1","timestamp":%d,'
        b'"features":{"amount":NaN},"prediction":0}' % ts,
        b'{"event_id":"x3","model_id":"no-such-model","model_version":"v1","timestamp":%d,"prediction":1}' % ts,
    ]


def _samples(text: str, name: str, **match: str) -> list[float]:
    """The values of ``name``'s samples whose labels include ``match`` (Prometheus text format)."""
    want = [f'{k}="{v}"' for k, v in match.items()]
    out = []
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] == name and all(w in series for w in want):
            try:
                out.append(float(value))
            except ValueError:
                continue
    return out


def _sum(text: str, name: str, **match: str) -> float:
    return sum(_samples(text, name, **match))


def _get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL we built
            return resp.status, resp.read().decode()
    except OSError as exc:
        status = getattr(exc, "code", 0)
        return int(status or 0), ""


def _drift_line(metrics_text: str) -> str:
    drifted = sorted(
        {
            line.split('feature="', 1)[1].split('"', 1)[0]
            for line in metrics_text.splitlines()
            if line.startswith("stream_monitor_feature_drift{") and line.endswith(" 1.0")
        }
    )
    state = "ok"
    for line in metrics_text.splitlines():
        if line.startswith("stream_monitor_model_drift_state{") and line.endswith(" 1.0"):
            state = line.split('stream_monitor_model_drift_state="', 1)[1].split('"', 1)[0]
    return f"state={state:<8} drifted={','.join(drifted) or '-'}"


def _label_line(text: str) -> str:
    """Coverage, accuracy against its reference and the fairness readings of the last windows."""
    def one(name: str, **match: str) -> str:
        found = _samples(text, name, **match)
        return f"{max(found):.3f}" if found else "-"

    fairness = sorted({line.split('metric="', 1)[1].split('"', 1)[0] for line in text.splitlines()
                       if line.startswith("stream_monitor_fairness_metric{")})
    return (f"coverage={one('stream_monitor_label_coverage_ratio')} "
            f"accuracy={one('stream_monitor_performance_metric', metric='accuracy')} "
            f"(reference {one('stream_monitor_performance_reference', metric='accuracy')}) "
            f"performance-breaches={int(_sum(text, 'stream_monitor_performance_breach'))} "
            f"fairness={','.join(fairness) or '-'} "
            f"fairness-breaches={int(_sum(text, 'stream_monitor_fairness_breach'))}")


async def _read_requests(bootstrap: str, topic: str, found: list[dict[str, Any]], stop: threading.Event) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        while not parts and not stop.is_set():
            await asyncio.sleep(0.2)
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in parts])
        await consumer.seek_to_beginning()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found.extend(json.loads(r.value) for r in records if r.value)
    finally:
        await consumer.stop()


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
        env = {**os.environ, "STREAM_MONITOR_WORKER__DATA_DIR": str(workdir / "state"),
               "STREAM_MONITOR_WORKER__APP_ID": f"stream-monitor-demo-{broker_port}"}
        cmd = [sys.executable, "-m", "stream_monitor", "run", "--config", str(CONFIG),
               "--bootstrap-servers", broker.bootstrap, "--web-port", str(web_port)]
        print(f"[demo] starting the worker: {' '.join(cmd[2:])}")
        with open(workdir / "worker.log", "wb") as log:
            worker = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        base = f"http://127.0.0.1:{web_port}"
        deadline = time.monotonic() + 120
        while _get(base + "/readyz")[0] != 200:
            if worker.poll() is not None or time.monotonic() > deadline:
                print("[demo] the worker did not become ready; see", workdir / "worker.log")
                return 1
            time.sleep(0.5)
        print(f"[demo] worker ready; metrics at {base}/metrics, status page at {base}/status")

        found: list[dict[str, Any]] = []
        reader = threading.Thread(
            target=lambda: asyncio.run(_read_requests(broker.bootstrap, t.retrain_requests, found, stop)), daemon=True
        )
        reader.start()
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
            status, text = _get(base + "/metrics")
            consumed = {kind: int(_sum(text, "stream_monitor_events_consumed_total", kind=kind))
                        for kind in ("prediction", "label")}
            print(
                f"[live] consumed={consumed['prediction']:>6} labels={consumed['label']:>5} "
                f"windows={int(_sum(text, 'stream_monitor_windows_closed_total')):>3} "
                f"dead-lettered={int(_sum(text, 'stream_monitor_dead_letter_total'))} "
                f"{_drift_line(text)} retrain-requests={len(found)}",
                flush=True,
            )
            if (found and not producer.is_alive() and consumed["prediction"] >= events
                    and consumed["label"] >= len(labels)):
                break
        stop.set()
        reader.join(5)
        if not found:
            print("[demo] no retrain request arrived; see", workdir / "worker.log")
            return 1
        print(f"\n[demo] retrain request received on topic {t.retrain_requests!r}:")
        print(json.dumps(found[0], indent=2))
        if len(found) > 1:
            print(f"[demo] and {len(found) - 1} more; the last: severity {found[-1].get('severity')}, "
                  f"features {found[-1].get('features')}, supersedes {found[-1].get('supersedes')}")
        print(f"\n[demo] label path: {_label_line(text)}")
        print(f"\n[demo] Prometheus metrics were served at {base}/metrics (worker log: {workdir / 'worker.log'})")
        return 0
    finally:
        stop.set()
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()
