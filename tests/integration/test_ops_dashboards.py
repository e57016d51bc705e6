"""Every Grafana panel query returns data from a real Prometheus after a drifted stream.

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
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import pytest

from tests.conftest import ROOT
from tests.ops.helpers import dashboard_queries, substitute_grafana_vars

from .kafka_helpers import wait_for
from .ops_stack import OpsStack

pytestmark = pytest.mark.integration

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
# (dashboard file, panel title, refId) -> why it cannot have data. Empty: the stack enables
# the label path (ops_stack._model_with_label_path), so every panel, performance and
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


def test_every_panel_query_returns_data(ops_stack: OpsStack) -> None:
    # The rate() panels need two scrapes of the final counters inside their 1m range.
    wait_for(lambda: ops_stack.query('count_over_time(stream_monitor_windows_closed_total[1m]) >= 3')["result"],
             30, what="a few scrapes after the stream")
    wait_for(lambda: ops_stack.query('ALERTS{alertstate="firing"}')["result"], 60, what="a firing alert")
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
            has_data = bool(ops_stack.query(promql, range_seconds=600 if is_range else 0)["result"])
            count += 1
            if not has_data and key not in NO_DATA_YET:
                empty.append(f"{path.name} {title!r} {ref}: {promql}")
            elif has_data and key in NO_DATA_YET:
                stale.append(f"{path.name} {title!r} {ref} returns data now: remove it from NO_DATA_YET")
    assert count > 50
    # live traffic is processed within seconds of its event time: at least 95% of the events
    # within ProcessingLagHigh's 300 s (over all events, not a rate window), and no such alert
    within = ops_stack.query('sum(stream_monitor_processing_lag_seconds_bucket{le=~"300(\\\\.0)?"})'
                             ' / sum(stream_monitor_processing_lag_seconds_count)')["result"]
    assert within and float(within[0]["value"][1]) >= 0.95, within
    assert not ops_stack.query('ALERTS{alertname="ProcessingLagHigh"}')["result"]
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert not stale, "\n".join(stale)
    assert set(NO_DATA_YET) <= seen, f"NO_DATA_YET names panels that do not exist: {set(NO_DATA_YET) - seen}"
