"""Alert delivery end to end: drift on the broker -> worker -> Prometheus rule -> Alertmanager -> webhook.

Real Prometheus and Alertmanager (Debian packages) load the repository's
prometheus.yml (its scrape and evaluation intervals), recording.yml, alerts.yml
and alertmanager.yml (routing tree, timers and inhibition) unchanged; only the
addresses are this stack's and every receiver is a webhook run by the test.
The page must leave within a minute of the retrain request (the request's
record timestamp on the retrain topic -> the webhook's arrival time).
"""

from __future__ import annotations

from typing import Any

import pytest

from .kafka_helpers import wait_for
from .ops_stack import DRIFT_ALERTS, OpsStack

pytestmark = [
    pytest.mark.integration, pytest.mark.broker, pytest.mark.prometheus,
    pytest.mark.alertmanager,
]

PAGE_WITHIN_SECONDS = 60
RECEIVERS = {"critical": "/fraud-pager", "warning": "/fraud-team"}  # alertmanager.yml, model fraud-detector


def _page(ops: OpsStack, request_id: str) -> tuple[float, str, dict[str, Any]] | None:
    """The first notification that fires the drift alert of ``request_id``."""
    for at, path, body in ops.webhook.notifications():
        for a in body.get("alerts", []):
            if (a["status"] == "firing" and a["labels"].get("request_id") == request_id
                    and a["labels"]["alertname"] in DRIFT_ALERTS.values()):
                return at, path, body
    return None


def _drift_path(request: dict[str, Any]) -> bool:
    """A request of the drift path (label-path detectors are named like "performance:accuracy";
    those requests are alerted on by PerformanceDrop and FairnessBreach)."""
    return all(":" not in r["detector"] for r in request["reasons"])


def test_drift_decision_pages_within_a_minute_with_its_features(ops_stack: OpsStack) -> None:
    ops = ops_stack
    drift = [(t, r) for t, r in ops.requests if _drift_path(r)]
    assert drift, "the drifted stream made no drift retrain request"
    published_at, newest = drift[-1]
    got = wait_for(lambda: _page(ops, newest["request_id"]), PAGE_WITHIN_SECONDS + 30, interval=0.5,
                   what=f"the page of request {newest['request_id']} (prometheus log: {ops.prometheus.log})")
    at, path, body = got
    print(f"request {newest['request_id']} ({newest['severity']}) -> page at {path}: {at - published_at:.1f} s")
    assert at - published_at < PAGE_WITHIN_SECONDS, f"paged {at - published_at:.1f}s after the request"
    severity = newest["severity"]
    assert path == RECEIVERS[severity]
    [page] = [a for a in body["alerts"] if a["labels"]["alertname"] in DRIFT_ALERTS.values()]
    labels = page["labels"]
    assert labels["alertname"] == DRIFT_ALERTS[severity]
    assert labels["model"] == newest["model_id"] == "fraud-detector" and labels["version"] == newest["model_version"]
    assert labels["severity"] == severity and labels["features"] == ",".join(newest["features"])
    assert labels["job"] == "stream-monitor" and labels["instance"] == f"127.0.0.1:{ops.worker.port}"
    summary = page["annotations"]["summary"]
    assert summary.startswith(f"{severity} retrain request for fraud-detector/v1")
    assert f"{severity} retrain request {newest['request_id']}" in page["annotations"]["description"]
    # one FeatureDrift per named feature, in the same notification (grouped by request)
    features = sorted(a["labels"]["feature"] for a in body["alerts"] if a["labels"]["alertname"] == "FeatureDrift")
    assert features == sorted(newest["features"])
    assert set(newest["features"]) & {"amount", "country"}
    assert set(newest["features"]) <= {"amount", "country", "__prediction__", "__multivariate__"}
    assert page["annotations"]["runbook_url"].endswith(f"/docs/runbooks/{DRIFT_ALERTS[severity]}.md")

    # Every request whose page went out was paged within the minute (a request superseded
    # before the next scrape is never seen by Prometheus, and that is fine).
    for published, req in drift:
        seen = _page(ops, req["request_id"])
        if seen is not None:
            assert seen[0] - published < PAGE_WITHIN_SECONDS, (req["request_id"], seen[0] - published)
    # Nothing but drift decisions reached a receiver: the other alerts hold for minutes,
    # and WorkerNotReady/WorkerDown must not fire for a healthy worker.
    assert {a["labels"]["alertname"] for _, a in ops.webhook.alerts()} <= {*DRIFT_ALERTS.values(), "FeatureDrift"}
