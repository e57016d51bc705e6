"""Every Grafana panel query returns data from a real Prometheus after a drifted stream:
the ops stack's, and the demo's (``config/demo.yaml`` as shipped, the demo's traffic and labels).

No Grafana runs here: each dashboard's panel targets, annotations and variable
queries are extracted, the dashboard variables substituted the way Grafana would
(``$model`` and ``$version`` as regexes of the selected values, ``$__rate_interval``
1m), parsed with promql-parser and run against the Prometheus HTTP API
(/api/v1/query). An empty result fails the test, except for the panels listed in
NO_DATA_YET, each with the reason it cannot have data yet; an allow-listed panel
that starts returning data fails too, so the list never goes stale.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from stream_monitor.tools.broker import EmbeddedBroker
from stream_monitor.tools.traffic import (
    DEMO_CHANGE_AT,
    DEMO_EVENTS,
    demo_labels,
    demo_predictions,
    malformed,
    send_traffic,
)
from tests.conftest import ROOT
from tests.ops.helpers import dashboard_queries, substitute_grafana_vars

from .conftest import Stack, Worker
from .kafka_helpers import produce, sample, wait_for
from .ops_stack import MV, OpsStack, monitoring, prom_query

pytestmark = [
    pytest.mark.integration, pytest.mark.broker, pytest.mark.prometheus,
    pytest.mark.alertmanager,
]

DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
SUBSTITUTIONS = {
    "model": "(fraud-detector)",
    "version": "(v1)",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
}
# (dashboard file, panel title, refId) -> why it cannot have data. Empty: both streams have the
# label path on (the ops stack's model, config/demo.yaml), so every panel, performance and
# fairness included, must return data.
NO_DATA_YET: dict[tuple[str, str, str], str] = {}


def queries(path: Path) -> Iterator[tuple[str, str, str, bool]]:
    """(panel title or variable/annotation name, refId, PromQL, is a range query) of one dashboard.

    Annotations are range queries in Grafana (one event per step where the
    expression has a value); panels and variables are checked at one instant.
    """
    dash = json.loads(path.read_text(encoding="utf-8"))
    for q in dashboard_queries(dash):
        title = q.title if q.kind == "panel" else f"{q.kind} {q.title}"
        yield title, q.ref or "A", q.expr, q.kind == "annotation"


Query = Callable[[str, float], dict[str, Any]]  # (PromQL, range seconds or 0) -> the API's data


def check_every_panel(query: Query) -> None:
    """Every query of every dashboard returns data (but those of NO_DATA_YET), after a few scrapes
    of the final counters and a firing alert; the live traffic was processed within seconds."""
    # The rate() panels need two scrapes of the final counters inside their 1m range.
    wait_for(lambda: query('count_over_time(stream_monitor_windows_closed_total[1m]) >= 3', 0)["result"],
             30, what="a few scrapes after the stream")
    wait_for(lambda: query('ALERTS{alertstate="firing"}', 0)["result"], 60, what="a firing alert")
    empty, stale, seen = [], [], set()
    count = 0
    for path in DASHBOARDS:
        for title, ref, expr, is_range in queries(path):
            key = (path.name, title, ref)
            seen.add(key)
            promql = substitute_grafana_vars(expr, SUBSTITUTIONS)
            try:
                promql_parser.parse(promql)
            except Exception as exc:  # noqa: BLE001 - any parse failure fails the test below
                pytest.fail(f"{path.name} {title!r} {ref}: PromQL does not parse: {exc}\n{promql}")
            has_data = bool(query(promql, 600 if is_range else 0)["result"])
            count += 1
            if not has_data and key not in NO_DATA_YET:
                empty.append(f"{path.name} {title!r} {ref}: {promql}")
            elif has_data and key in NO_DATA_YET:
                stale.append(f"{path.name} {title!r} {ref} returns data now: remove it from NO_DATA_YET")
    assert count > 50
    # live traffic is processed within seconds of its event time: at least 95% of the events
    # within ProcessingLagHigh's 300 s (over all events, not a rate window), and no such alert
    within = query('sum(stream_monitor_processing_lag_seconds_bucket{le=~"300(\\\\.0)?"})'
                   ' / sum(stream_monitor_processing_lag_seconds_count)', 0)["result"]
    assert within and float(within[0]["value"][1]) >= 0.95, within
    assert not query('ALERTS{alertname="ProcessingLagHigh"}', 0)["result"]
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert not stale, "\n".join(stale)
    assert set(NO_DATA_YET) <= seen, f"NO_DATA_YET names panels that do not exist: {set(NO_DATA_YET) - seen}"


def test_every_panel_query_returns_data(ops_stack: OpsStack) -> None:
    check_every_panel(lambda expr, range_seconds: ops_stack.query(expr, range_seconds))


def _send_demo_part(stack: Stack, worker: Worker, start: int, stop: int, labels_before: int) -> int:
    """Predictions ``start`` to ``stop - 1`` of the demo stream, stamped from now, and their labels,
    as ``make demo`` sends them; return the labels sent so far once the worker has consumed them all."""
    t = stack.topics
    predictions = demo_predictions(stop, DEMO_CHANGE_AT, time.time(), start=start)
    labels = demo_labels(predictions, seed=start)
    send_traffic(stack.broker.bootstrap, t["predictions"], t["labels"], predictions, labels)
    sent = labels_before + len(labels)
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
             == stop, 90, what=f"predictions up to {stop} consumed")
    # the demo's labels carry no model version: counted as version "unknown"
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="label",
                            model=MV["model"], version="unknown") == sent, 60, what=f"{sent} labels consumed")
    return sent


@pytest.fixture(scope="module")
def demo_prometheus(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prometheus' URL after the demo: config/demo.yaml as shipped (label path on) and the demo's traffic.

    The stream pauses at its change point until Prometheus has scraped the stationary state (the
    demo sends it in 6 s, between two 15 s scrapes): the drift-state-change annotation needs a
    sample on either side of the change."""
    stack = Stack(broker, tmp_path_factory.mktemp("demo"), f"demo{os.getpid()}-{int(time.time()) % 100000}",
                  label_path=True)
    stack.create_topics()
    with monitoring(stack) as live:
        prom = live.prometheus.url
        produce(broker.bootstrap, stack.topics["predictions"], malformed(time.time()))
        labels = _send_demo_part(stack, live.worker, 0, DEMO_CHANGE_AT, 0)
        stationary = f'sum(stream_monitor_events_consumed_total{{kind="prediction"}}) >= {DEMO_CHANGE_AT}'
        wait_for(lambda: prom_query(prom, stationary)["result"], 60, what="a scrape of the stationary state")
        _send_demo_part(stack, live.worker, DEMO_CHANGE_AT, DEMO_EVENTS, labels)
        # a window of joined pairs judged against the reference learned from the first predictions
        wait_for(lambda: "stream_monitor_performance_drop{" in live.worker.metrics(), 60,
                 what="a performance window judged")
        assert sample(live.worker.metrics(), "stream_monitor_model_drift_state",
                      stream_monitor_model_drift_state="drift", **MV) == 1
        yield prom


def test_every_panel_query_returns_data_after_the_demo(demo_prometheus: str) -> None:
    check_every_panel(lambda expr, range_seconds: prom_query(demo_prometheus, expr, range_seconds))
