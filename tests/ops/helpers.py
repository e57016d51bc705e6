"""Shared helpers of the ops bundle tests: paths, external tools, PromQL inspection."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import promql_parser
import yaml

from tests.tool_markers import program

from . import metric_contract as contract

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "prometheus"
GRAFANA_DIR = ROOT / "grafana"
DOCKER_DIR = ROOT / "docker"
DOCS = ROOT / "docs" / "operations.md"
RUNBOOKS = ROOT / "docs" / "runbooks"  # one page per alert, <AlertName>.md
METRICS_DOC = ROOT / "docs" / "metrics.md"  # generated: python -m stream_monitor.tools.docs_gen metrics
ALERTS = PROM_DIR / "alerts.yml"
RECORDING = PROM_DIR / "recording.yml"
ALERTMANAGER = PROM_DIR / "alertmanager.yml"
RUNBOOK_BASE = "https://github.com/stream-monitor/stream-monitor/blob/main/docs/runbooks/"


def runbook_url(alert: str) -> str:
    """Where an alert's runbook_url must point: its page under docs/runbooks/."""
    return f"{RUNBOOK_BASE}{alert}.md"


TOOL_TIMEOUT = 60

# Debian packages: prometheus (prometheus, promtool), prometheus-alertmanager
# (prometheus-alertmanager, amtool).  Upstream tarballs name the server "alertmanager".
# name -> (marker, program names)
TOOLS: dict[str, tuple[str, tuple[str, ...]]] = {
    "promtool": ("promtool", ("promtool",)),
    "amtool": ("alertmanager", ("amtool",)),
    "alertmanager": ("alertmanager", ("prometheus-alertmanager", "alertmanager")),
}


def tool(name: str) -> str:
    """Path of an external tool, for a test carrying the tool's marker (tests/tool_markers.py)."""
    marker, names = TOOLS[name]
    return program(marker, names)


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed tool paths, no shell
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def alert_rules() -> list[dict[str, Any]]:
    data = load_yaml(ALERTS)
    return [r for g in data["groups"] for r in g["rules"] if "alert" in r]


def recording_rules() -> list[dict[str, Any]]:
    data = load_yaml(RECORDING)
    return [r for g in data["groups"] for r in g["rules"] if "record" in r]


# ---------------------------------------------------------------------------
# PromQL
# ---------------------------------------------------------------------------

DEMO_SUBSTITUTIONS = {
    "model": contract.DEMO_MODEL,
    "version": contract.DEMO_VERSION,
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}
_VAR = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\$([A-Za-z_]\w*)")


def substitute_grafana_vars(expr: str, values: Mapping[str, str] = DEMO_SUBSTITUTIONS) -> str:
    """Replace the dashboard variables by ``values`` (demo values by default); unknown variables raise."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VAR.sub(repl, expr)


class DashboardQuery(NamedTuple):
    """One PromQL expression of a dashboard and where it sits."""

    kind: str  # "panel", "annotation" or "variable"
    title: str  # panel title, annotation or variable name
    ref: str | None  # the target's refId (panels only)
    expr: str

    def where(self) -> str:
        if self.kind == "panel":
            return f"panel {self.title!r} target {self.ref}"
        return f"{self.kind} {self.title!r}" if self.kind == "annotation" else f"variable {self.title}"


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


def dashboard_queries(dash: dict[str, Any]) -> Iterator[DashboardQuery]:
    """Every panel target, annotation and query variable of a dashboard (nested rows included)."""
    for p in panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if "expr" in t:
                yield DashboardQuery("panel", p["title"], t.get("refId"), t["expr"])
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            yield DashboardQuery("annotation", a["name"], None, a["expr"])
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            expr = variable_query_expr(query)
            assert expr is not None, f"variable {v['name']}: unsupported query {query!r}"
            yield DashboardQuery("variable", v["name"], None, expr)


@dataclass(frozen=True)
class Selector:
    name: str | None
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)


def _op_name(op: object) -> str:
    return str(op).rsplit(".", 1)[-1]


def parse(expr: str) -> object:
    return promql_parser.parse(expr)


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of a PromQL expression (raises on a syntax error)."""
    out: list[Selector] = []

    def visit(node: Any) -> None:
        kind = type(node).__name__
        if kind == "VectorSelector":
            matchers = []
            name = getattr(node, "name", None)
            groups = [node.matchers.matchers, *getattr(node.matchers, "or_matchers", [])]
            for group in groups:
                for m in group:
                    if m.name == "__name__" and _op_name(m.op) == "Equal":
                        name = name or m.value
                    else:
                        matchers.append((m.name, _op_name(m.op), m.value))
            out.append(Selector(name, tuple(matchers)))
            return
        if kind == "MatrixSelector":
            visit(node.vector_selector)
            return
        if kind == "Call":
            for arg in node.args:
                visit(arg)
            return
        for attr in ("expr", "lhs", "rhs", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, str | int | float):
                visit(child)

    visit(parse(expr))
    return out


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*),\s*)?([A-Za-z_]\w*)\s*\)\s*$", re.S)


def variable_query_expr(query: str) -> str | None:
    """The PromQL inside a Grafana label_values(...) / query_result(...) variable query."""
    m = _LABEL_VALUES.match(query)
    if m:
        return m.group(1)
    m = re.match(r"^\s*query_result\((.*)\)\s*$", query, re.S)
    if m:
        return m.group(1)
    return None


def contract_problems(expr: str, recorded: set[str], where: str) -> list[str]:
    """Metric names and label matchers of ``expr`` that the contract does not allow."""
    problems = []
    for sel in selectors(expr):
        name = sel.name
        if name is None:
            problems.append(f"{where}: selector without a metric name in {expr!r}")
            continue
        if name in recorded:
            continue
        if ":" in name:
            problems.append(f"{where}: recording rule {name} is not defined in recording.yml")
            continue
        if name in contract.PROMETHEUS_SYNTHETIC:
            allowed = contract.PROMETHEUS_SYNTHETIC[name]
            if allowed is None:
                continue
            allowed = allowed | contract.TARGET_LABELS
            values: dict[str, frozenset[str]] = {}
        else:
            metric = contract.lookup(name)
            if metric is None:
                problems.append(f"{where}: metric {name} is not in the metrics contract")
                continue
            allowed = metric.allowed_labels(name)
            values = metric.values or {}
        for label, op, value in sel.matchers:
            if label not in allowed:
                problems.append(f"{where}: {name} has no label {label!r}")
            elif op == "Equal" and label in values and value not in values[label]:
                problems.append(f"{where}: {name}{{{label}={value!r}}} is not a contract value")
    return problems
