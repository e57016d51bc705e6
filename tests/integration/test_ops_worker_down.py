"""A stopped worker is not a recovery: no drift "resolved" notification while it is down.

Its own stack (the shared one serves the dashboard and status page tests, which need a
live worker): real worker, Prometheus and Alertmanager with the repository's
prometheus.yml, rules and alertmanager.yml unchanged, a webhook receiver. After the
drift page, the worker is killed (SIGKILL): Prometheus' scrape fails (up == 0) and the
worker's series go stale. Without the hold in the drift rules, the drift alerts would end
at the next evaluation and Alertmanager would send "resolved" within scrape (15 s) +
evaluation (15 s) + the drift route's group_interval (30 s). The worker is then started
again on the same state: its restored incident exports the same request, and still nothing
resolves.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from stream_monitor.tools.simulate import Scenario, generate, to_json

from .conftest import Stack
from .kafka_helpers import produce, sample, wait_for
from .ops_stack import DRIFT_ALERTS, SCRAPE_SECONDS, Webhook, monitoring, prom_query

pytestmark = [
    pytest.mark.integration, pytest.mark.slow, pytest.mark.broker,
    pytest.mark.prometheus, pytest.mark.alertmanager,
]

DRIFT = {*DRIFT_ALERTS.values(), "FeatureDrift"}
# scrape + evaluation + group_interval of the drift route, and a margin
RESOLVE_WOULD_ARRIVE_WITHIN = 2 * SCRAPE_SECONDS + 30 + 30


def _drift(webhook: Webhook, status: str) -> list[dict[str, Any]]:
    return [a for _, a in webhook.alerts() if a["labels"].get("alertname") in DRIFT and a["status"] == status]


def _exported(metrics: str) -> set[str]:
    """The request ids the worker exports (its incidents' current requests)."""
    return {ln.split('request_id="', 1)[1].split('"', 1)[0] for ln in metrics.splitlines()
            if ln.startswith("stream_monitor_retrain_request_info{")}


def test_worker_down_does_not_resolve_the_drift_page(stack: Stack) -> None:
    with monitoring(stack) as live:
        webhook, worker = live.webhook, live.worker
        now = time.time()
        scenario = Scenario(kind="abrupt", change_at=3000, seed=5, start_time=now - 60, events_per_second=100)
        produce(stack.broker.bootstrap, stack.topics["predictions"],
                [to_json(e) for e in generate(scenario, 6000)])
        firing = wait_for(lambda: _drift(webhook, "firing"), 150, interval=1.0, what="the drift page")
        request_id = firing[0]["labels"]["request_id"]
        # The incident's current request: an update may have superseded the first page's.
        wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", model="fraud-detector",
                                version="v1", kind="prediction") == 6000, 60, what="every event consumed")
        current = _exported(worker.metrics())
        assert current

        assert worker.process is not None
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(10)
        down_at = time.monotonic()
        prom = live.prometheus.url
        wait_for(lambda: prom_query(prom, 'up{job="stream-monitor"} == 0')["result"], 60, what="the failed scrape")
        while time.monotonic() - down_at < RESOLVE_WOULD_ARRIVE_WITHIN:
            assert not _drift(webhook, "resolved"), "a drift alert resolved while the worker was down"
            time.sleep(1.0)
        held = prom_query(prom, f'ALERTS{{alertstate="firing", request_id="{request_id}"}}')["result"]
        assert {r["metric"]["alertname"] for r in held} & set(DRIFT_ALERTS.values()), held

        worker.start()  # the same state directory: the incident and its request are restored
        wait_for(lambda: all(prom_query(prom, f'stream_monitor_retrain_request_info{{request_id="{rid}"}}'
                                              ' and on (job, instance) up == 1')["result"] for rid in current),
                 90, what="the restored request exported again")
        back_at = time.monotonic()
        while time.monotonic() - back_at < 2 * SCRAPE_SECONDS + 30:
            assert not _drift(webhook, "resolved"), "a drift alert resolved after the worker came back"
            time.sleep(1.0)
        pages = {a["labels"]["request_id"] for a in _drift(webhook, "firing")
                 if a["labels"]["alertname"] in DRIFT_ALERTS.values()}
        assert request_id in pages
