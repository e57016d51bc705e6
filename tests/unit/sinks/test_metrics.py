"""The metrics bundle on a fresh registry: counts, scrape-time state, bounded labels, lint."""

from __future__ import annotations

import random
import string
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import make_monitor, records
from tests.tool_markers import program


def _sample(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_counts_and_state_gauges(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    evs = list(generate(Scenario(kind="abrupt", change_at=1000, seed=3), 3000))
    out = mon.observe(records([*evs, b"{bad"]), now=evs[-1]["timestamp"] + 5)
    metrics.observe(out, now=123.0)
    # present at 0 from the start (closed label set), counted only once acknowledged
    assert _sample(reg, "stream_monitor_dead_letter_total", source="predictions", reason="invalid_json") == 0
    for dl in out.dead_letters:  # counted once the broker acknowledged the dead letter
        metrics.dead_lettered(dl)
    mv = {"model": "fraud-detector", "version": "v1"}
    assert _sample(reg, "stream_monitor_events_consumed_total", kind="prediction", **mv) == 3000
    assert _sample(reg, "stream_monitor_dead_letter_total", source="predictions", reason="invalid_json") == 1
    # a whole window, then two closed early: the first alarm and the one that corroborated it
    assert _sample(reg, "stream_monitor_windows_closed_total", **mv) == len(out.reports) == 4
    assert _sample(reg, "stream_monitor_model_drift_state", stream_monitor_model_drift_state="drift", **mv) == 1
    assert _sample(reg, "stream_monitor_feature_drift", feature="amount", detector="ks", **mv) == 1
    assert _sample(reg, "stream_monitor_feature_drift", feature="age", detector="ks", **mv) == 0
    assert _sample(reg, "stream_monitor_last_evaluation_timestamp_seconds", **mv) == 123.0
    assert _sample(reg, "stream_monitor_processing_lag_seconds_count", model="fraud-detector") == 3000


def test_retired_versions_lose_their_series(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    base = next(iter(generate(Scenario(), 1)))
    for i in range(6):  # each version an hour after the last: the idlest learned one gives way
        ev = {**base, "model_version": f"v{i}", "timestamp": base["timestamp"] + 3_601 * i}
        metrics.observe(mon.observe(records([ev], start=i), now=0), now=0)
    text = generate_latest(reg).decode()
    assert 'version="v5"' in text and 'version="v0"' not in text and 'version="v2"' not in text


def test_cardinality_attack_is_bounded(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    rnd = random.Random(5)
    word = lambda: "".join(rnd.choices(string.ascii_lowercase, k=12))  # noqa: E731
    base = next(iter(generate(Scenario(), 1)))
    before = len(generate_latest(reg).decode().splitlines())

    def attack(n: int, start: int) -> int:
        evs = []
        for i in range(start, start + n):
            e = dict(base, event_id=str(i), model_version=rnd.choice(["v1", word()]))
            e["model_id"] = rnd.choice(["fraud-detector", word()])
            e["features"] = {**base["features"], word(): 1.0, "country": word()}
            evs.append(e)
        metrics.observe(mon.observe(records(evs, start=start), now=0), now=0)
        lines = generate_latest(reg).decode().splitlines()
        # every series is labelled from config or the learned allow-list: at most
        # max_versions (3) versions of one model, plus "other" for the rest
        versions = {ln.split('version="', 1)[1].split('"', 1)[0] for ln in lines
                    if 'version="' in ln and not ln.startswith('stream_monitor_build_info')}
        assert len(versions - {"other"}) <= 3
        return len(lines) - before

    first = attack(2000, 0)
    # Per version: a reading per feature and test (window tests and CUSUMs), quality rates, state.
    assert first < 450, first
    assert attack(4000, 2000) <= first  # twice the random names later: not one series more
@pytest.mark.promtool
def test_exposition_passes_promtool_lint(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    metrics.observe(mon.observe(records([to_json(e) for e in generate(Scenario(), 1500)]), now=0), now=0)
    res = subprocess.run([program("promtool"), "check", "metrics"], input=generate_latest(reg), capture_output=True,
                         timeout=30, check=False)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


def test_metrics_endpoint_restricts_to_named_series(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    """``/metrics?name[]=...`` returns those series only, and skips the scrape-time
    collectors (the costly part of a scrape) unless one of their names is asked for."""
    import asyncio
    import urllib.request

    from stream_monitor.app.web import Health, WebServer
    from stream_monitor.tools.broker import free_port

    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    reads: list[int] = []

    def monitors() -> list[object]:
        reads.append(1)
        return [mon]

    metrics = MonitorMetrics(reg, monitors)  # type: ignore[arg-type]
    evs = list(generate(Scenario(kind="abrupt", change_at=1000, seed=3), 3000))
    metrics.observe(mon.observe(records(evs), now=evs[-1]["timestamp"] + 5), now=123.0)
    port = free_port()
    server = WebServer(reg, Health(), lambda: {}, "127.0.0.1", port)

    def get(query: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics{query}", timeout=5) as r:  # noqa: S310
            return r.read().decode()

    async def scrape() -> tuple[str, str, str]:
        await server.start()
        try:
            loop = asyncio.get_running_loop()
            full = await loop.run_in_executor(None, get, "")
            consumed = await loop.run_in_executor(None, get, "?name[]=stream_monitor_events_consumed_total")
            state = await loop.run_in_executor(None, get, "?name[]=stream_monitor_model_drift_severity")
            return full, consumed, state
        finally:
            await server.stop()

    reads.clear()
    full, consumed, state = asyncio.run(scrape())
    assert "stream_monitor_feature_drift{" in full and "stream_monitor_dead_letter_total" in full
    series = [line.split("{")[0] for line in consumed.splitlines() if not line.startswith("#")]
    assert set(series) == {"stream_monitor_events_consumed_total"}  # prediction, and feature/label at 0
    assert 'kind="prediction",model="fraud-detector",version="v1"} 3000.0' in consumed
    assert [line.split("{")[0] for line in state.splitlines() if not line.startswith("#")] == [
        "stream_monitor_model_drift_severity"]
    # The state collector (both paths' decisions) and the request collector read the
    # monitors: both in the full scrape, the state one for the severity, none for the
    # consumed counts.
    assert len(reads) == 3


def test_metrics_endpoint_negotiates_openmetrics() -> None:
    import asyncio
    import urllib.request

    from stream_monitor.app.web import Health, WebServer
    from stream_monitor.tools.broker import free_port

    reg = CollectorRegistry()
    MonitorMetrics(reg, list)
    port = free_port()
    server = WebServer(reg, Health(), lambda: {}, "127.0.0.1", port)

    def get(accept: str) -> tuple[str, str]:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept})  # noqa: S310
        with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310
            return r.headers["Content-Type"], r.read().decode()

    async def scrape() -> list[tuple[str, str]]:
        await server.start()
        try:
            loop = asyncio.get_running_loop()
            om = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            return [await loop.run_in_executor(None, get, a) for a in (om, "text/plain", "")]
        finally:
            await server.stop()

    (om_type, om_body), (text_type, text_body), (default_type, _) = asyncio.run(scrape())
    assert om_type.startswith("application/openmetrics-text") and om_body.endswith("# EOF\n")
    assert "stream_monitor_worker_up 0.0" in om_body
    assert text_type.startswith("text/plain") and "# EOF" not in text_body
    assert default_type.startswith("text/plain")
