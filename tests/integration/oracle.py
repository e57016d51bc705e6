"""The oracle: recompute the state a worker must hold from the source topic itself.

It reads every record of the prediction topic, runs the pure core over each
partition in offset order (what an exactly-once consumer would do), and returns
the expected snapshot state and retrain request ids per partition.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from stream_monitor.config.references import load_references
from stream_monitor.pipeline.monitor import Monitor, SourceRecord
from stream_monitor.settings import ServiceSettings

from .conftest import Stack
from .kafka_helpers import read_topic


def expected_state(stack: Stack) -> tuple[dict[int, dict[str, Any]], set[str]]:
    settings = ServiceSettings.from_yaml(stack.config())
    refs = load_references(settings)
    topic = stack.topics["predictions"]
    by_partition: dict[int, list[SourceRecord]] = {}
    for r in sorted(read_topic(stack.broker.bootstrap, topic, quiet=2.0), key=lambda r: (r.partition, r.offset)):
        by_partition.setdefault(r.partition, []).append(
            SourceRecord("prediction", r.value, topic, r.partition, r.offset, r.key))
    states, ids = {}, set()
    for p, recs in by_partition.items():
        mon = Monitor(settings.models, refs, max_message_bytes=settings.limits.max_message_bytes,
                      route_null_keys=True)  # as the worker: null-key records count where their copy lands
        out = mon.observe(recs, now=0.0)
        ids |= {q.request_id for q in out.requests}
        mon.mark_published(q.request_id for q in out.requests)
        states[p] = mon.to_state()
    return states, ids


def persisted_state(stack: Stack) -> dict[int, dict[str, Any]]:
    """The last snapshot of each partition in the worker's changelog topic."""
    latest: dict[bytes, bytes] = {}
    for r in read_topic(stack.broker.bootstrap, f"{stack.name}-monitor-state-changelog", quiet=2.0):
        if r.key is not None and r.value is not None:
            latest[r.key] = r.value
    return {int(k.decode().rsplit("-", 1)[1]): json.loads(zlib.decompress(v)) for k, v in latest.items()}


def comparable(state: dict[str, Any], topic: str) -> dict[str, Any]:
    """Window statistics and the position on ``topic``; float sums rounded (batch
    boundaries reorder additions). The worker also records positions of partitions
    it was assigned but never read (the log start); the oracle only sees ``topic``."""
    def norm(x: Any) -> Any:
        if isinstance(x, float):
            return round(x, 6)
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list):
            return [norm(v) for v in x]
        return x

    positions = [p for p in state["positions"] if p[0] == topic]
    return norm({"positions": positions, "models": state["models"]})
