"""Bounds the input cannot push: metric label values from events (versions through a
learned allow-list, a PII canary never shown) and event time (too far ahead is
dead-lettered as ``timestamp_out_of_range``)."""

from __future__ import annotations

import json
import zlib
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from stream_monitor.app.status_page import render_status
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import records

PII = "jane.doe.canary@example.com"
DAY = 86_400.0


def _labelled(spec: ModelSpec) -> ModelSpec:
    return ModelSpec.model_validate({**spec.model_dump(), "labels": {"join_ttl_seconds": 600.0}})


def _series(reg: CollectorRegistry) -> list[str]:
    return [ln for ln in generate_latest(reg).decode().splitlines() if ln and not ln.startswith("#")]


def _versions(lines: list[str]) -> set[str]:
    return {ln.split('version="', 1)[1].split('"', 1)[0] for ln in lines
            if 'version="' in ln and not ln.startswith("stream_monitor_build_info")}


def test_ten_thousand_versions_on_every_kind_keep_the_series_bounded(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    """10,000 distinct model_version values on predictions, feature events and labels
    (and a PII canary among the first) add no series beyond the allow-list's: at most
    max_versions (3) learned versions, plus "other" and "unknown"."""
    spec = _labelled(demo_spec)
    mon = Monitor([spec], {spec.model_id: demo_reference}, max_message_bytes=1 << 20)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    base = next(iter(generate(Scenario(), 1)))
    t0 = base["timestamp"]

    offsets = {"prediction": 0, "feature": 0, "label": 0}

    def send(kind: str, n: int, start: int, version: Any) -> None:
        evs: list[dict[str, Any]] = []
        for i in range(n):
            e: dict[str, Any] = {"event_id": f"{kind}-{start + i}", "model_id": spec.model_id,
                                 "model_version": version(i), "timestamp": t0 + (start + i) * 0.001}
            if kind == "prediction":
                e.update(features=base["features"], prediction=base["prediction"], score=base.get("score"))
            elif kind == "feature":
                e["features"] = base["features"]
            else:
                e["label"] = 1
            evs.append(e)
        topic = f"model-{kind}s"
        out = mon.observe(records(evs, topic=topic, kind=kind, start=offsets[kind]), now=t0)
        offsets[kind] += n
        assert not out.dead_letters and not out.seeks
        metrics.observe(out, now=t0)

    # Three well-formed versions and the canary first: the canary never gets a place.
    send("prediction", 4, 0, lambda i: [PII, "v1", "v2", "v3"][i])
    baseline = _series(reg)
    for kind in ("prediction", "feature", "label"):
        send(kind, 10_000, 100_000, lambda i: f"v-{i:05d}")
    send("label", 10, 300_000, lambda i: None)
    lines = _series(reg)
    assert _versions(lines) <= {"v1", "v2", "v3", "other", "unknown"}
    # The bound stated: 10,000 versions on each kind added fewer than 40 series
    # (other/unknown counters per kind, and the windows' readings of v1-v3 that were
    # already bounded by config); without the allow-list it was ~20,000.
    assert len(lines) - len(baseline) < 40, len(lines) - len(baseline)
    text = "\n".join(lines)
    assert PII not in text
    assert f'stream_monitor_version_overflow_total{{kind="label",model="{spec.model_id}"}}' not in text
    overflow = {ln.split("{", 1)[1].split("}", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in lines
                if ln.startswith("stream_monitor_version_overflow_total")}
    assert overflow == {f'kind="prediction",model="{spec.model_id}"': 10_001.0,
                        f'kind="feature",model="{spec.model_id}"': 10_000.0}
    consumed_other_labels = [ln for ln in lines if ln.startswith("stream_monitor_events_consumed_total")
                             and 'kind="label"' in ln and 'version="other"' in ln]
    assert consumed_other_labels and consumed_other_labels[0].endswith(" 10000.0")


def test_malformed_or_pii_versions_never_reach_labels_or_the_status_page(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    mon = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    base = next(iter(generate(Scenario(), 1)))
    bad = [PII, "<script>alert(1)</script>", "v 1", "x" * 65, "other", "ü-version"]
    evs = [{**base, "event_id": str(i), "model_version": v} for i, v in enumerate(bad)]
    out = mon.observe(records(evs), now=0)
    metrics.observe(out, now=0)
    assert out.overflow == {(demo_spec.model_id, "prediction"): len(bad)}
    assert not mon.models[demo_spec.model_id].versions and not mon.learned[demo_spec.model_id]
    text = generate_latest(reg).decode()
    models = [{"model": m, "version": v, "state": "ok"} for m, mm in mon.models.items() for v in mm.versions]
    page = render_status({"models": models, "features": [], "requests": []})
    for value in bad[:4]:
        assert value not in text and value not in page


def _event(base: dict[str, Any], i: int, ts: float) -> dict[str, Any]:
    return {**base, "event_id": str(i), "timestamp": ts}


def test_events_far_ahead_are_dead_lettered_and_move_nothing(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    mon = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20,
                  max_event_skew_seconds=DAY)
    base = next(iter(generate(Scenario(), 1)))
    now = base["timestamp"]
    out = mon.observe(records([_event(base, 0, now), _event(base, 1, now + DAY - 1),
                               _event(base, 2, now + DAY + 1), _event(base, 3, now + 365 * DAY)]), now=now)
    assert [(d.reason, d.record.offset) for d in out.dead_letters] == [
        ("timestamp_out_of_range", 2), ("timestamp_out_of_range", 3)]
    assert sum(out.consumed.values()) == 2
    assert mon.newest[demo_spec.model_id] == now + DAY - 1
    assert out.last_event == {(demo_spec.model_id, base["model_version"]): now + DAY - 1}
    # The bound counts from the later of processing time and the newest accepted event
    # time, as of the batch's start: a stream replayed with an old clock is accepted ...
    out = mon.observe(records([_event(base, 4, now + 2 * DAY - 2)], start=4), now=0)
    assert not out.dead_letters
    # ... and, inside one batch, events cannot walk the bound forward.
    out = mon.observe(records([_event(base, 5, now + 3 * DAY - 3), _event(base, 6, now + 4 * DAY - 4)], start=5),
                      now=0)
    assert [d.record.offset for d in out.dead_letters] == [6]


def test_label_times_are_bounded_too_and_the_newest_time_survives_a_restore(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    spec = _labelled(demo_spec)
    mon = Monitor([spec], {spec.model_id: demo_reference}, max_message_bytes=1 << 20, max_event_skew_seconds=DAY)
    now = 1_800_000_000.0
    label = {"event_id": "e", "model_id": spec.model_id, "label": 1}
    out = mon.observe(records([{**label, "timestamp": now + 2 * DAY}, {**label, "timestamp": now}],
                              topic="model-labels", kind="label"), now=now)
    assert [d.reason for d in out.dead_letters] == ["timestamp_out_of_range"]
    assert out.dead_letters[0].model_id == spec.model_id
    assert out.consumed == {(spec.model_id, "unknown", "label"): 1}
    again = Monitor([spec], {spec.model_id: demo_reference}, max_message_bytes=1 << 20, max_event_skew_seconds=DAY)
    again.restore(mon.snapshot())
    assert again.newest == {spec.model_id: now}
    state = json.loads(json.dumps(mon.to_state()))
    assert state["newest"] == {spec.model_id: now}


def test_learned_versions_survive_a_restore(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20)
    base = next(iter(generate(Scenario(), 1)))
    mon.observe(records([{**base, "event_id": str(i), "model_version": f"v{i}"} for i in range(3)]), now=0)
    again = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20)
    again.restore(mon.snapshot())
    out = again.observe(records([{**base, "event_id": "x", "model_version": "v9"}], start=3), now=0)
    assert set(again.learned[demo_spec.model_id]) == {"v0", "v1", "v2"}
    assert out.overflow == {(demo_spec.model_id, "prediction"): 1}


def test_the_allow_list_does_not_depend_on_batching(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    """Learning and idle replacement follow event order only: one batch or one record
    at a time give the same allow-list, the same "other" counts and the same retirements."""
    base = next(iter(generate(Scenario(), 1)))
    t0 = base["timestamp"]
    plan = [("v1", 0), ("v2", 100), ("v3", 200), ("v4", 300), ("v1", 3_000), ("v2", 3_100), ("v5", 3_200),
            ("v3", 3_300), ("v6", 6_000), ("v1", 6_100)]
    evs = [{**base, "event_id": str(i), "model_version": v, "timestamp": t0 + t} for i, (v, t) in enumerate(plan)]

    def run(sizes: int) -> tuple[dict[str, float], int, list[tuple[str, str]]]:
        mon = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20,
                      version_idle_seconds=2_500.0)
        other, retired = 0, []
        for start in range(0, len(evs), sizes):
            out = mon.observe(records(evs[start:start + sizes], start=start), now=0)
            other += sum(out.overflow.values())
            retired.extend(r for r in out.retired if r not in retired)
        return mon.learned[demo_spec.model_id], other, retired

    whole = run(len(evs))
    assert whole == run(1) == run(3)
    learned, other, retired = whole
    assert set(learned) == {"v5", "v6", "v1"} and other == 2  # v4, then v3 when it came back
    assert [v for _, v in retired] == ["v3", "v1", "v2"]


def test_status_page_escapes_and_shortens_names() -> None:
    long = "v" * 200
    page = render_status({
        "models": [{"model": "m", "version": "<script>alert(1)</script>", "state": "ok"},
                   {"model": "m", "version": long + "\x00\x1b[31m", "state": "ok"}],
        "features": [{"model": "m", "version": "<b>x</b>", "feature": "f", "detector": "ks", "value": 0.1,
                      "threshold": 0.05, "drift": False}],
        "requests": [{"request_id": "r", "model_id": "m", "model_version": "<i>v</i>", "severity": "warning"}],
    })
    assert "<script>" not in page and "<b>x</b>" not in page and "<i>v</i>" not in page
    assert "&lt;script&gt;" in page and long not in page and "v" * 63 + "\u2026" in page
    assert "\x00" not in page and "\x1b" not in page


def test_a_snapshot_without_an_allow_list_seeds_it_from_the_live_versions(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    mon = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20)
    base = next(iter(generate(Scenario(), 1)))
    mon.observe(records([{**base, "event_id": str(i), "model_version": f"v{i}"} for i in range(2)]), now=0)
    state = mon.to_state()
    del state["learned"], state["newest"]  # as written (version 1) before the allow-list existed
    state["schema"] = 1
    blob = zlib.compress(json.dumps(state).encode())
    again = Monitor([demo_spec], {demo_spec.model_id: demo_reference}, max_message_bytes=1 << 20)
    again.restore(blob)
    assert set(again.learned[demo_spec.model_id]) == {"v0", "v1"} and again.newest == {}


def test_huge_finite_values_keep_every_sum_finite() -> None:
    """Finite values near the float limit (the event contract accepts them) never overflow a
    window's sums: a numeric feature's moments and a regression window's error sums stay finite,
    and nothing raises or warns (the suite turns warnings into errors)."""
    import math

    import numpy as np

    from stream_monitor.windows.accumulators import Binning, NumericAccumulator
    from stream_monitor.windows.performance import PerformanceAccumulator

    binning = Binning(edges=np.array([0.0, 1.0, 2.0]), minimum=-1.0, maximum=3.0, index={})
    acc = NumericAccumulator.empty(binning)
    for big in (1.3407807929942597e154, 1e300, 1.7e308, -1.7e308):
        acc.update(np.array([big, 0.5, big]), binning)
    assert math.isfinite(acc.total) and math.isfinite(acc.total_sq) and acc.above == 6 and acc.below == 2
    perf = PerformanceAccumulator.empty("regression")
    for predicted, label in ((1e200, 0.0), (-1.7e308, 1.7e308), (1.0, 1e-300), (2.0, 1.0)):
        perf.add_regression(predicted, label)
    assert all(math.isfinite(v) for v in perf.sums.values())
    assert all(math.isfinite(m.value) for m in perf.metrics().values())
