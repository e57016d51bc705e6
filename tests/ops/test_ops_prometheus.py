"""Prometheus rules: promtool validity and unit tests, conventions, metrics contract."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from . import helpers as h

RULE_TESTS = sorted((h.PROM_DIR / "tests").glob("*.yml"))


@pytest.mark.promtool
def test_promtool_check_rules() -> None:
    promtool = h.tool("promtool")
    res = h.run([promtool, "check", "rules", str(h.RECORDING), str(h.ALERTS)])
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.promtool
def test_promtool_unit_tests_pass() -> None:
    promtool = h.tool("promtool")
    assert RULE_TESTS, "no promtool unit tests in prometheus/tests/"
    res = h.run([promtool, "test", "rules", *(str(p) for p in RULE_TESTS)])
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.promtool
def test_promtool_check_example_config() -> None:
    promtool = h.tool("promtool")
    res = h.run([promtool, "check", "config", str(h.PROM_DIR / "prometheus.yml")])
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.promtool
def test_promtool_check_docker_config(tmp_path: Path) -> None:
    """docker/prometheus.yml, with the rule files where compose.yaml mounts them."""
    promtool = h.tool("promtool")
    text = (h.DOCKER_DIR / "prometheus.yml").read_text(encoding="utf-8")
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for src in (h.ALERTS, h.RECORDING):
        shutil.copy(src, rules_dir / src.name)
    assert "/etc/prometheus/rules/" in text
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(text.replace("/etc/prometheus/rules/", f"{rules_dir}/"), encoding="utf-8")
    res = h.run([promtool, "check", "config", str(cfg)])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 rule files found" in res.stdout


def test_alert_conventions() -> None:
    rules = h.alert_rules()
    assert rules
    problems = []
    for r in rules:
        name = r["alert"]
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", name):
            problems.append(f"{name}: alert names are CamelCase")
        decision = "stream_monitor_retrain_request_" in r["expr"]
        if decision and r.get("for"):
            problems.append(f"{name}: a published decision pages at once (no for:)")
        if not decision and (not r.get("for") or r["for"] in ("0s", "0m")):
            problems.append(f"{name}: needs a non-zero for: (only decision alerts page at once)")
        labels = r.get("labels", {})
        if labels.get("severity") not in {"warning", "critical"}:
            problems.append(f"{name}: labels.severity must be warning or critical")
        if labels.get("team") not in {"ml", "platform"}:
            problems.append(f"{name}: labels.team must be ml or platform")
        if labels.get("service") != "stream-monitor":
            problems.append(f"{name}: labels.service must be stream-monitor (routing/inhibition)")
        ann = r.get("annotations", {})
        problems.extend(
            f"{name}: annotations.{key} missing"
            for key in ("summary", "description", "runbook_url")
            if not ann.get(key)
        )
        if ann.get("runbook_url") != h.runbook_url(name):
            problems.append(f"{name}: runbook_url must be {h.runbook_url(name)}")
    assert not problems, "\n".join(problems)


def test_same_alert_name_differs_only_by_severity() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for r in h.alert_rules():
        by_name[r["alert"]].append(r["labels"]["severity"])
    dupes = {n: s for n, s in by_name.items() if len(s) != len(set(s))}
    assert not dupes, f"alerts with the same name and severity: {dupes}"


REQUIRED_ALERTS = {
    "ModelDrift",
    "FeatureDrift",
    "PerformanceDrop",
    "FairnessBreach",
    "FeatureMissingRateHigh",
    "FeatureOutOfRangeRateHigh",
    "FeatureUnseenCategoryRateHigh",
    "ModelTrafficStale",
    "WorkerDown",
    "WorkerAbsent",
    "DeadLetterRateHigh",
    "ConsumerLagHigh",
    "EventLoopLagHigh",
}


def test_required_alerts_present() -> None:
    names = {r["alert"] for r in h.alert_rules()}
    assert names >= REQUIRED_ALERTS, sorted(REQUIRED_ALERTS - names)


def test_every_alert_has_firing_and_quiet_unit_test() -> None:
    fires: set[tuple[str, str]] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        doc = h.load_yaml(path)
        for case in doc.get("tests", []):
            for check in case.get("alert_rule_test", []) or []:
                exp = check.get("exp_alerts") or []
                if exp:
                    for alert in exp:
                        sev = alert.get("exp_labels", {}).get("severity", "")
                        fires.add((check["alertname"], sev))
                else:
                    quiet.add(check["alertname"])
    missing = []
    for r in h.alert_rules():
        name, sev = r["alert"], r["labels"]["severity"]
        if (name, sev) not in fires:
            missing.append(f"{name} ({sev}): no unit test where it fires")
        if name not in quiet:
            missing.append(f"{name}: no unit test where it stays quiet")
    assert not missing, "\n".join(missing)


def test_drift_decision_alerts_fit_in_a_minute() -> None:
    """Scrape interval + rule evaluation interval + the drift route's group_wait < 60 s."""
    prom = h.load_yaml(h.PROM_DIR / "prometheus.yml")
    scrape = max(_seconds(j.get("scrape_interval", prom["global"]["scrape_interval"])) for j in prom["scrape_configs"])
    group = next(g for g in h.load_yaml(h.ALERTS)["groups"] if any(r.get("alert") == "ModelDrift" for r in g["rules"]))
    evaluation = _seconds(group.get("interval", prom["global"]["evaluation_interval"]))
    am = h.load_yaml(h.ALERTMANAGER)["route"]["routes"][0]["routes"]
    wait = next(_seconds(r["group_wait"]) for r in am if any("ModelDrift" in m for m in r.get("matchers", [])))
    assert scrape + evaluation + wait < 60, (scrape, evaluation, wait)


def _seconds(duration: str) -> int:
    unit = {"s": 1, "m": 60, "h": 3600}[duration[-1]]
    return int(duration[:-1]) * unit


def test_recording_rule_names() -> None:
    for r in h.recording_rules():
        assert re.fullmatch(r"stream_monitor:[a-z0-9_]+(:[a-z0-9_]+)?", r["record"]), r["record"]


@pytest.mark.parametrize("path", [h.ALERTS, h.RECORDING], ids=lambda p: p.name)
def test_rules_reference_only_contract_metrics(path: Path) -> None:
    recorded = {r["record"] for r in h.recording_rules()}
    doc = h.load_yaml(path)
    problems = []
    for group in doc["groups"]:
        for r in group["rules"]:
            where = f"{path.name}:{r.get('alert') or r.get('record')}"
            problems += h.contract_problems(r["expr"], recorded, where)
    assert not problems, "\n".join(problems)


def test_rule_unit_tests_use_contract_series() -> None:
    """Input series of the promtool tests must look like what the worker exports."""
    recorded = {r["record"] for r in h.recording_rules()}
    problems = []
    for path in RULE_TESTS:
        for case in h.load_yaml(path).get("tests", []):
            for series in case.get("input_series", []):
                problems += h.contract_problems(series["series"], recorded, path.name)
    assert not problems, "\n".join(problems)
