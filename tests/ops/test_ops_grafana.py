"""Grafana provisioning and dashboards: JSON, PromQL of every target, metrics contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from . import helpers as h

DASHBOARD_DIR = h.GRAFANA_DIR / "dashboards"
DASHBOARDS = ["fleet-overview.json", "model-detail.json", "operations.json"]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARD_DIR / name).read_text(encoding="utf-8"))
    return data


def _queries(dash: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target, annotation and query variable."""
    for q in h.dashboard_queries(dash):
        yield q.where(), q.expr


def test_dashboard_files_present() -> None:
    found = sorted(p.name for p in DASHBOARD_DIR.glob("*.json"))
    assert found == sorted(DASHBOARDS)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_structure(name: str) -> None:
    dash = _load(name)
    assert dash["uid"] and len(dash["uid"]) <= 40
    assert dash["title"].startswith("Stream Monitor")
    assert "stream-monitor" in dash["tags"]
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    for var in ("model", "version"):
        assert var in variables, f"{name}: no ${var} variable"
        query = variables[var]["query"]
        query = query["query"] if isinstance(query, dict) else query
        assert query.startswith("label_values("), f"{name}: ${var} must use label_values"
        assert query.rstrip().endswith(f"{var})")
    assert variables["datasource"]["type"] == "datasource"
    ids = [p["id"] for p in h.panels(dash["panels"])]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
    for p in h.panels(dash["panels"]):
        pos = p["gridPos"]
        assert pos["x"] + pos["w"] <= 24, f"{name}: panel {p['title']!r} wider than the grid"
        if p["type"] != "row":
            assert p["targets"], f"{name}: panel {p['title']!r} has no query"
            assert p["datasource"]["uid"] == "${datasource}", p["title"]


def test_dashboard_uids_unique() -> None:
    uids = [_load(n)["uid"] for n in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_promql_parses(name: str) -> None:
    problems = []
    queries = list(_queries(_load(name)))
    assert queries
    for where, expr in queries:
        try:
            h.parse(h.substitute_grafana_vars(expr))
        except Exception as exc:  # noqa: BLE001 - report every bad query at once
            problems.append(f"{name}: {where}: {exc}: {expr}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_dashboard_metrics_in_contract(name: str) -> None:
    recorded = {r["record"] for r in h.recording_rules()}
    problems = []
    for where, expr in _queries(_load(name)):
        problems += h.contract_problems(
            h.substitute_grafana_vars(expr), recorded, f"{name}: {where}"
        )
    assert not problems, "\n".join(problems)


def _metrics_used(name: str) -> set[str]:
    return {
        s.name
        for _, expr in _queries(_load(name))
        for s in h.selectors(h.substitute_grafana_vars(expr))
        if s.name
    }


@pytest.mark.parametrize(
    ("name", "required"),
    [
        (
            "fleet-overview.json",
            {
                "stream_monitor_model_drift_severity",
                "stream_monitor_feature_drift",
                "stream_monitor_performance_breach",
                "stream_monitor_fairness_breach",
            },
        ),
        (
            "model-detail.json",
            {
                "stream_monitor_drift_statistic",
                "stream_monitor_drift_threshold",
                "stream_monitor_drift_p_value",
                "stream_monitor_feature_drift",
                "stream_monitor_performance_metric",
                "stream_monitor_performance_reference",
                "stream_monitor_fairness_metric",
                "stream_monitor_group_share",
                "stream_monitor_missing_ratio",
                "stream_monitor_out_of_range_ratio",
                "stream_monitor_unseen_category_ratio",
                "stream_monitor_retrain_requests_total",
            },
        ),
        (
            "operations.json",
            {
                "stream_monitor_events_consumed_total",
                "stream_monitor_consumer_lag",
                "stream_monitor_processing_lag_seconds_bucket",
                "stream_monitor_serving_latency_seconds_bucket",
                "stream_monitor_dead_letter_total",
                "stream_monitor_event_loop_lag_seconds",
                "stream_monitor_state_bytes",
            },
        ),
    ],
)
def test_dashboard_content(name: str, required: set[str]) -> None:
    missing = required - _metrics_used(name)
    assert not missing, f"{name} does not show {sorted(missing)}"


def test_model_detail_annotates_retrain_requests() -> None:
    annotations = _load("model-detail.json")["annotations"]["list"]
    exprs = [a.get("expr", "") for a in annotations]
    assert any("increase(stream_monitor_retrain_requests_total" in e for e in exprs), (
        "model-detail needs a retrain-request annotation"
    )


def test_provisioning() -> None:
    ds = h.load_yaml(h.GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml")
    prom = [d for d in ds["datasources"] if d["type"] == "prometheus"]
    assert len(prom) == 1 and prom[0]["url"].startswith("http")
    prov = h.load_yaml(h.GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yml")
    providers = prov["providers"]
    assert len(providers) == 1 and providers[0]["type"] == "file"
    # the provider reads the directory where compose.yaml mounts grafana/dashboards
    compose = h.load_yaml(h.DOCKER_DIR / "compose.yaml")
    mounts = compose["services"]["grafana"]["volumes"]
    targets = {
        m.split(":")[1]
        for m in mounts
        if (h.DOCKER_DIR / m.split(":")[0]).resolve() == DASHBOARD_DIR.resolve()
    }
    assert targets == {providers[0]["options"]["path"]}


def test_grafana_variable_substitution_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown Grafana variable"):
        h.substitute_grafana_vars('up{instance=~"$instance"}')
    assert (
        h.substitute_grafana_vars('label_replace(x, "a", "${1}s", "b", "(.+)")').count("${1}") == 1
    )
    assert h.substitute_grafana_vars("rate(x[$__rate_interval])") == "rate(x[5m])"


def test_contract_checker_catches_unknown_metric() -> None:
    problems = h.contract_problems("sum(rate(stream_monitor_nope_total[5m]))", set(), "t")
    assert problems and "not in the metrics contract" in problems[0]
    problems = h.contract_problems('stream_monitor_dead_letter_total{model="x"}', set(), "t")
    assert problems and "no label 'model'" in problems[0]
    problems = h.contract_problems(
        'stream_monitor_events_consumed_total{kind="predictions"}', set(), "t"
    )
    assert problems and "not a contract value" in problems[0]


def _all_panels(name: str) -> list[dict[str, Any]]:
    return [p for p in h.panels(_load(name)["panels"]) if p.get("type") != "row"]


@pytest.mark.parametrize("name", ["fleet-overview.json", "model-detail.json", "operations.json"])
def test_one_unit_per_axis(name: str) -> None:
    """A time series panel has one axis: no series may carry a unit of its own."""
    for p in _all_panels(name):
        if p.get("type") != "timeseries":
            continue
        for o in p.get("fieldConfig", {}).get("overrides", []):
            assert all(pr["id"] != "unit" for pr in o.get("properties", [])), p["title"]


def test_drifted_features_count_distinct_features() -> None:
    """Not feature x detector pairs: a feature that two tests flag counts once."""
    exprs = [t["expr"] for name in ("fleet-overview.json", "model-detail.json") for p in _all_panels(name)
             for t in p.get("targets", []) if "stream_monitor_feature_drift" in t.get("expr", "")]
    assert exprs
    for e in exprs:
        assert "sum by (model, version) (stream_monitor_feature_drift" not in e
        assert "sum(stream_monitor_feature_drift" not in e
        if "count" in e:
            assert "feature)" in e, e  # counted after max by (..., feature)


def test_alpha_is_never_drawn_as_a_statistic_threshold() -> None:
    """p-value tests compare a p-value with alpha: their threshold series sits beside p-values."""
    for p in _all_panels("model-detail.json"):
        for t in p.get("targets", []):
            e = t.get("expr", "")
            if "stream_monitor_drift_threshold" not in e:
                continue
            assert "stream_monitor_drift_p_value" in e, (p["title"], e)  # restricted to one kind of test
            if "and on" in e:
                assert "alpha" in (t.get("legendFormat", "") + json.dumps(p.get("transformations", []))).lower()


def test_drift_annotation_sees_changes_at_any_scrape_interval() -> None:
    [ann] = [a for a in _load("model-detail.json")["annotations"]["list"] if a.get("name") == "Drift state changes"]
    assert "changes(" in ann["expr"] and "[$__rate_interval]" in ann["expr"]
