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
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest

from tests.conftest import ROOT

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
_VAR = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)")

# (dashboard file, panel title, refId) -> why it cannot have data. Empty: the stack enables
# the label path (ops_stack._model_with_label_path), so every panel, performance and
# fairness included, must return data.
NO_DATA_YET: dict[tuple[str, str, str], str] = {}


def substitute(expr: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in SUBSTITUTIONS:
            raise AssertionError(f"unknown dashboard variable ${name} in {expr!r}")
        return SUBSTITUTIONS[name]

    return _VAR.sub(repl, expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def queries(path: Path) -> Iterator[tuple[str, str, str, bool]]:
    """(panel title or variable/annotation name, refId, PromQL, is a range query) of one dashboard.

    Annotations are range queries in Grafana (one event per step where the
    expression has a value); panels and variables are checked at one instant.
    """
    dash = json.loads(path.read_text(encoding="utf-8"))
    for p in _panels(dash["panels"]):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p["title"], t.get("refId", "A"), t["expr"], False
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            yield f"annotation {a['name']}", "A", a["expr"], True
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.match(r"^\s*label_values\(\s*(.*),\s*\w+\s*\)\s*$", q, re.S)
            assert m, f"{path.name}: variable {v['name']}: unsupported query {q!r}"
            yield f"variable {v['name']}", "A", m.group(1), False


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
            promql = substitute(expr)
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
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert not stale, "\n".join(stale)
    assert set(NO_DATA_YET) <= seen, f"NO_DATA_YET names panels that do not exist: {set(NO_DATA_YET) - seen}"
