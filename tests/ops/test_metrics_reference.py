"""Every metric the exporter exposes is in docs/metrics.md and in the metrics contract."""

from __future__ import annotations

from stream_monitor.tools.docs_metrics import exposed_metrics, parse_table

from . import helpers as h
from . import metric_contract as contract

_TYPES = {"gauge (stateset)": "stateset"}


def test_every_exposed_metric_is_documented_and_in_the_contract() -> None:
    exposed = {r.name: r for r in exposed_metrics()}
    readme = parse_table(h.METRICS_DOC.read_text(encoding="utf-8"))
    fix = "run `python -m stream_monitor.tools.docs_gen metrics` and review the docs/metrics.md diff"
    assert sorted(set(exposed) - set(readme)) == [], f"undocumented metrics: {fix}"
    assert sorted(set(readme) - set(exposed)) == [], f"documented but not exposed: {fix}"
    for name, row in exposed.items():
        doc = readme[name]
        assert (doc.type, set(doc.labels)) == (row.type, set(row.labels)), f"{name}: {fix}"
        assert doc.meaning, f"{name}: no meaning in docs/metrics.md"
        metric = contract.METRICS_BY_NAME.get(name)
        assert metric is not None, f"{name} is not in tests/ops/metric_contract.py"
        assert metric.type == _TYPES.get(row.type, row.type), name
        assert set(metric.labels) == set(row.labels), f"{name}: contract labels {metric.labels} != {row.labels}"


def test_contract_lists_no_metric_the_exporter_lacks() -> None:
    exposed = {r.name for r in exposed_metrics()}
    assert sorted(set(contract.METRICS_BY_NAME) - exposed) == []


def test_metric_names_follow_the_conventions() -> None:
    for row in exposed_metrics():
        assert row.name.startswith(contract.PREFIX), row.name
        assert (row.type == "counter") == row.name.endswith("_total"), row.name
        if "latency" in row.name or "lag_seconds" in row.name or "delay" in row.name:
            assert row.type in ("histogram", "gauge"), row.name  # histograms, never summaries
        assert row.type != "summary", row.name
