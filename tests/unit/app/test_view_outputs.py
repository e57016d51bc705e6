"""What the edges show is pinned: the Prometheus exposition, ``/status.json`` and the status page of a seeded run.

A drifting demo model and a labelled model with a fairness breach run through
one monitor each, batch by batch as the worker runs them (the status history
recorded after every batch, requests acknowledged after every batch but the
last). The three outputs (without the counters' ``_created`` times) are compared by SHA-256 with the outputs of the same
run on the edges as they were when they read the live monitor objects, before
they read :meth:`Monitor.view`. A deliberate change of an output changes its
hash: print the new texts with ``_outputs()`` and update the pin in the same commit.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from stream_monitor.app.status_page import render_status
from stream_monitor.pipeline.monitor import Monitor, SourceRecord
from stream_monitor.report.history import StatusHistory, status_payload
from stream_monitor.report.status_view import version_views
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, demo_model_config, generate, reference_rows
from stream_monitor.tools.simulate_labels import (
    LabelScenario,
    arrival_order,
    generate_labelled,
    label_events,
    labelled_model_config,
    to_json,
)
from stream_monitor.windows.profile import build_profile
from tests.conftest import make_monitor, records

PINNED = {
    "exposition": "8efd9569324c3bf374effc613d12bafb096b81c48d8717562fc2ade39b35c115",
    "status_json": "25ce42d20604bcbce4b1789d7c1b56cb4316aa1fe029cee84a1d43aebd0d7871",
    "status_page": "d92f605887dde7ea1455c4d56fa7a06b8bd1f9fc981743c3fabd8c159d2daf2d",
}
_CREATED = re.compile(r"^\w+_created[{ ]")  # a counter's creation time: the wall clock, not the run


def _labelled_records() -> tuple[ModelSpec, list[SourceRecord]]:
    spec = ModelSpec.model_validate(labelled_model_config())
    pairs = list(generate_labelled(LabelScenario(kind="fairness", change_at=3000, seed=11), 6000))
    events, truth = [p for p, _ in pairs], [t for _, t in pairs]
    labs = label_events(events, truth, coverage=0.8, duplicate_rate=0.1, seed=11)
    offsets = {"prediction": 0, "label": 0}
    out = []
    for kind, e in arrival_order(events, labs):
        topic = "model-predictions" if kind == "prediction" else "model-labels"
        out.append(SourceRecord(kind, to_json(e), topic, 0, offsets[kind], spec.model_id.encode()))  # type: ignore[arg-type]
        offsets[kind] += 1
    return spec, out


def _outputs() -> dict[str, str]:
    demo = ModelSpec.model_validate(demo_model_config())
    drifting = make_monitor(demo, build_profile(demo, reference_rows(20_000, seed=1), source="test reference"))
    evs = list(generate(Scenario(kind="abrupt", change_at=1000, seed=3), 3000))
    spec, labelled_recs = _labelled_records()
    labelled = Monitor([spec], {spec.model_id: None}, max_message_bytes=1 << 20)
    runs: list[tuple[Monitor, list[SourceRecord]]] = [(drifting, records([*evs, b"{bad"])), (labelled, labelled_recs)]
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [drifting, labelled])
    history = StatusHistory()
    for mon, recs in runs:
        batches = [recs[i:i + 700] for i in range(0, len(recs), 700)]
        for n, batch in enumerate(batches):
            outcome = mon.observe(batch, now=float(n))
            metrics.observe(outcome, now=100.0 + n)
            history.record(outcome.reports, version_views([mon], sorted({m for m, _, _ in outcome.consumed})))
            if n < len(batches) - 1:
                mon.mark_published([r.request_id for r in outcome.requests])
    status: dict[str, Any] = status_payload(version_views([drifting, labelled]), history, [])
    return {
        "exposition": "".join(line for line in generate_latest(reg).decode().splitlines(keepends=True)
                              if not _CREATED.match(line)),
        "status_json": json.dumps(status, sort_keys=True),
        "status_page": render_status(status, ready=True),
    }


def test_outputs_are_pinned() -> None:
    outputs = _outputs()
    assert "stream_monitor_retrain_request_info{" in outputs["exposition"]  # the run reaches every collector
    assert "stream_monitor_fairness_breach{" in outputs["exposition"]
    assert "stream_monitor_label_join_keep_probability{" in outputs["exposition"]
    assert '"distributions": [{' in outputs["status_json"]
    digests = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in outputs.items()}
    assert digests == PINNED
