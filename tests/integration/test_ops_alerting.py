"""Alert delivery end to end: drift on the broker -> worker -> Prometheus rule -> Alertmanager -> webhook.

Real Prometheus and Alertmanager (Debian packages) load the repository's
recording.yml, alerts.yml (ModelDrift's `for:` shortened to 2s, nothing else
changed) and alertmanager.yml (its routing tree and inhibition unchanged; timers
shortened and every receiver pointed at a webhook receiver run by the test).
"""

from __future__ import annotations

import pytest

from .kafka_helpers import wait_for
from .ops_stack import DRIFT_ALERT, OpsStack

pytestmark = pytest.mark.integration


def test_drift_alert_reaches_the_webhook_through_the_routing_tree(ops_stack: OpsStack) -> None:
    ops = ops_stack

    def delivered() -> list[tuple[str, dict]]:  # type: ignore[type-arg]
        return [(path, a) for path, a in ops.webhook.alerts()
                if a["labels"].get("alertname") == DRIFT_ALERT and a["status"] == "firing"]

    got = wait_for(delivered, 90, interval=0.5,
                   what=f"{DRIFT_ALERT} at the webhook (prometheus log: {ops.prometheus.log})")
    path, alert = got[0]
    # alertmanager.yml: service=stream-monitor -> team=ml -> model=fraud-detector -> severity=critical
    assert path == "/fraud-pager"
    labels = alert["labels"]
    assert labels["model"] == "fraud-detector" and labels["version"] == "v1"
    assert labels["severity"] == "critical" and labels["team"] == "ml" and labels["service"] == "stream-monitor"
    assert labels["job"] == "stream-monitor" and labels["instance"] == f"127.0.0.1:{ops.worker.port}"
    assert alert["annotations"]["summary"] == "Model fraud-detector/v1 is in drift state"
    assert alert["annotations"]["runbook_url"].endswith("/docs/runbooks/ModelDrift.md")

    # The rule read the worker's state, which a retrain request accompanied.
    assert ops.query('stream_monitor_model_drift_severity{model="fraud-detector",version="v1"}')["result"][0][
        "value"][1] == "2"
    # (The first request came from a CUSUM alarm: it names what alarmed first, a changed feature.)
    assert ops.retrain_request_ids and ops.drifted_features & {"amount", "country"}
    assert ops.drifted_features <= {"amount", "country", "__prediction__", "__multivariate__"}  # no innocent input
    # Nothing else of this stack reached a receiver: the other alerts hold for minutes,
    # and WorkerNotReady/WorkerDown must not fire for a healthy worker.
    assert {a["labels"]["alertname"] for _, a in ops.webhook.alerts()} == {DRIFT_ALERT}
