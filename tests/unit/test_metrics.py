"""The metrics bundle on a fresh registry: counts, scrape-time state, bounded labels, lint."""

from __future__ import annotations

import random
import shutil
import string
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from stream_monitor.modelspec import ModelSpec
from stream_monitor.simulate import Scenario, generate, to_json
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import make_monitor, records


def _sample(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_counts_and_state_gauges(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    evs = list(generate(Scenario(kind="abrupt", change_at=1000, seed=3), 3000))
    out = mon.observe(records([*evs, b"{bad"]), now=evs[-1]["timestamp"] + 5)
    metrics.observe(out, now=123.0)
    mv = {"model": "fraud-detector", "version": "v1"}
    assert _sample(reg, "stream_monitor_events_consumed_total", kind="prediction", **mv) == 3000
    assert _sample(reg, "stream_monitor_dead_letter_total", source="predictions", reason="invalid_json") == 1
    assert _sample(reg, "stream_monitor_windows_closed_total", **mv) == 3
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
    for i in range(6):
        metrics.observe(mon.observe(records([{**base, "model_version": f"v{i}"}], start=i), now=0), now=0)
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
        # every series is labelled from config: at most max_versions (3) versions of one model
        versions = {ln.split('version="', 1)[1].split('"', 1)[0] for ln in lines
                    if 'version="' in ln and not ln.startswith('stream_monitor_build_info')}
        assert len(versions) <= 3
        return len(lines) - before

    first = attack(2000, 0)
    # Per version: a reading per feature and test (window tests and CUSUMs), quality rates, state.
    assert first < 450, first
    assert attack(4000, 2000) <= first  # twice the random names later: not one series more
@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by make test")
def test_exposition_passes_promtool_lint(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    metrics.observe(mon.observe(records([to_json(e) for e in generate(Scenario(), 1500)]), now=0), now=0)
    res = subprocess.run(["promtool", "check", "metrics"], input=generate_latest(reg), capture_output=True,
                         timeout=30, check=False)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
