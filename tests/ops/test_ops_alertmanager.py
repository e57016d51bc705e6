"""Alertmanager example: amtool validity, routing tree, inhibition (against a live process)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import helpers as h


@pytest.mark.alertmanager
def test_amtool_check_config() -> None:
    amtool = h.tool("amtool")
    res = h.run([amtool, "check-config", str(h.ALERTMANAGER)])
    assert res.returncode == 0, res.stdout + res.stderr


ROUTES = [
    ("alertname=ModelDrift service=stream-monitor team=ml severity=critical model=fraud-detector", "fraud-pager"),
    ("alertname=FeatureDrift service=stream-monitor team=ml severity=critical model=churn", "ml-pager"),
    ("alertname=ModelDriftWarning service=stream-monitor team=ml severity=warning model=churn", "ml-team"),
    ("service=stream-monitor team=ml severity=critical model=fraud-detector", "fraud-pager"),
    ("service=stream-monitor team=ml severity=warning model=fraud-detector", "fraud-team"),
    ("service=stream-monitor team=ml severity=critical model=churn", "ml-pager"),
    ("service=stream-monitor team=ml severity=warning model=churn", "ml-team"),
    ("service=stream-monitor team=platform severity=critical", "platform-pager"),
    ("service=stream-monitor team=platform severity=warning", "platform-team"),
    ("service=something-else severity=critical", "default"),
]


@pytest.mark.alertmanager
@pytest.mark.parametrize(("labels", "receiver"), ROUTES, ids=[r for _, r in ROUTES])
def test_routing_tree(labels: str, receiver: str) -> None:
    amtool = h.tool("amtool")
    res = h.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={h.ALERTMANAGER}",
            f"--verify.receivers={receiver}",
            *labels.split(),
        ]
    )
    assert res.returncode == 0, f"{labels} -> {res.stdout.strip()} (want {receiver}) {res.stderr}"


def test_every_alert_team_is_routed() -> None:
    """The team/severity pairs used by the rules have a dedicated route."""
    config = h.load_yaml(h.ALERTMANAGER)
    text = json.dumps(config["route"])
    for rule in h.alert_rules():
        assert f'team=\\"{rule["labels"]["team"]}\\"' in text, rule["alert"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - local test server
        return bytes(resp.read())


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = h.tool("alertmanager")
    port = _free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    proc = subprocess.Popen(  # noqa: S603 - fixed binary path
        [
            binary,
            f"--config.file={h.ALERTMANAGER}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                _get(f"{base}/-/ready")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "alertmanager did not start:\n"
                        + (tmp_path / "alertmanager.log").read_text(),
                        pytrace=False,
                    )
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _alert(name: str, severity: str, team: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": name,
            "severity": severity,
            "team": team,
            "service": "stream-monitor",
            "job": "stream-monitor",
            **labels,
        },
        "annotations": {"summary": name},
    }


W1 = {"instance": "worker-1:9108"}
W2 = {"instance": "worker-2:9108"}
# (alert, expected to be inhibited)
SCENARIO = [
    (_alert("WorkerDown", "critical", "platform", **W1), False),
    # same instance as the down worker: its state is frozen
    (
        _alert("ModelTrafficStale", "warning", "ml", model="fraud-detector", version="v1", **W1),
        True,
    ),
    (_alert("ModelDrift", "critical", "ml", model="fraud-detector", version="v1", **W1), True),
    # another worker: not inhibited by WorkerDown
    (_alert("ModelDrift", "critical", "ml", model="churn", version="v2", request_id="r-2", **W2), False),
    # ... the critical ModelDrift of churn/v2 silences its other warnings
    (_alert("FeatureMissingRateHigh", "warning", "ml", model="churn", version="v2", feature="amount", **W2), True),
    # ... but never the features of a drift decision (they belong in the page)
    (
        _alert(
            "FeatureDrift",
            "warning",
            "ml",
            model="churn",
            version="v2",
            feature="amount",
            request_id="r-2",
            **W2,
        ),
        False,
    ),
    (_alert("ModelDriftWarning", "warning", "ml", model="churn", version="v2", request_id="r-2", **W2), False),
    # a warning of another model version stays
    (
        _alert(
            "FeatureDrift",
            "warning",
            "ml",
            model="churn",
            version="v3",
            feature="amount",
            request_id="r-3",
            **W2,
        ),
        False,
    ),
    # critical variant silences the warning variant of the same alert and source
    (_alert("DeadLetterRateHigh", "critical", "platform", source="labels", **W2), False),
    (_alert("DeadLetterRateHigh", "warning", "platform", source="labels", **W2), True),
    (_alert("DeadLetterRateHigh", "warning", "platform", source="predictions", **W2), False),
    # ... and nothing else without a model label
    (_alert("EventLoopLagHigh", "warning", "platform", **W2), False),
]


_ABSENT = {
    "labels": {"alertname": "WorkerAbsent", "severity": "critical", "team": "platform", "service": "stream-monitor"},
    "annotations": {},
}
# No worker exports metrics at all: WorkerDown of the last known worker silences WorkerAbsent,
# and WorkerAbsent holds back the drift alerts (their expiry after the hold is no recovery).
ABSENT_SCENARIO = [
    (_alert("WorkerDown", "critical", "platform", **W1), False),
    (_ABSENT, True),
    (_alert("ModelDrift", "critical", "ml", model="fraud-detector", version="v1", request_id="r-1", **W2), True),
    (_alert("FeatureDrift", "critical", "ml", model="fraud-detector", version="v1", request_id="r-1",
            feature="amount", **W2), True),
    (_alert("PerformanceDrop", "critical", "ml", model="fraud-detector", version="v1", metric="f1", **W2), False),
]


def _key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True)


@pytest.mark.alertmanager
@pytest.mark.parametrize("scenario", [SCENARIO, ABSENT_SCENARIO], ids=["workers", "no-worker"])
def test_inhibition_rules(alertmanager: str, scenario: list[tuple[dict[str, Any], bool]]) -> None:
    body = json.dumps([a for a, _ in scenario]).encode()
    req = urllib.request.Request(  # noqa: S310 - local test server
        f"{alertmanager}/api/v2/alerts",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
    want = {_key(a["labels"]): inhibited for a, inhibited in scenario}
    got: dict[str, bool] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alerts = json.loads(_get(f"{alertmanager}/api/v2/alerts"))
        got = {_key(a["labels"]): bool(a["status"]["inhibitedBy"]) for a in alerts}
        if got == want:
            break
        time.sleep(0.2)
    wrong = [f"{k}: inhibited={got.get(k)}, want {v}" for k, v in want.items() if got.get(k) != v]
    assert not wrong, "\n".join(wrong)


def test_drift_decisions_have_their_own_fast_route() -> None:
    """A drift decision never waits behind another alert's group: its own route, grouped by
    request (its FeatureDrift alerts in the same notification), group_wait well under a minute."""
    config = h.load_yaml(h.ALERTMANAGER)
    ml = config["route"]["routes"][0]["routes"]
    drift = [r for r in ml if any("ModelDrift" in m for m in r.get("matchers", []))]
    assert len(drift) == 1
    route = drift[0]
    assert ml.index(route) < next(i for i, r in enumerate(ml) if r.get("matchers") == ['team="ml"'])
    assert set(route["group_by"]) == {"model", "version", "request_id"}
    assert route["group_wait"].endswith("s") and int(route["group_wait"][:-1]) <= 15, route["group_wait"]
