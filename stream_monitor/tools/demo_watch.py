"""What the demo reads back from the worker: its metrics, summarised per line, and the retrain requests.

The summaries read the Prometheus text format of ``/metrics`` (no client
library); the retrain requests are read from their topic from the beginning
until the demo stops.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from typing import Any

__all__ = ["drift_line", "http_get", "label_line", "metric_sum", "read_requests", "samples"]


def samples(text: str, name: str, **match: str) -> list[float]:
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


def metric_sum(text: str, name: str, **match: str) -> float:
    return sum(samples(text, name, **match))


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - local URL we built
            return resp.status, resp.read().decode()
    except OSError as exc:
        status = getattr(exc, "code", 0)
        return int(status or 0), ""


def drift_line(metrics_text: str) -> str:
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


def label_line(text: str) -> str:
    """Coverage, accuracy against its reference and the fairness readings of the last windows."""
    def one(name: str, **match: str) -> str:
        found = samples(text, name, **match)
        return f"{max(found):.3f}" if found else "-"

    fairness = sorted({line.split('metric="', 1)[1].split('"', 1)[0] for line in text.splitlines()
                       if line.startswith("stream_monitor_fairness_metric{")})
    return (f"coverage={one('stream_monitor_label_coverage_ratio')} "
            f"accuracy={one('stream_monitor_performance_metric', metric='accuracy')} "
            f"(reference {one('stream_monitor_performance_reference', metric='accuracy')}) "
            f"performance-breaches={int(metric_sum(text, 'stream_monitor_performance_breach'))} "
            f"fairness={','.join(fairness) or '-'} "
            f"fairness-breaches={int(metric_sum(text, 'stream_monitor_fairness_breach'))}")


async def read_requests(bootstrap: str, topic: str, found: list[dict[str, Any]], stop: threading.Event) -> None:
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
