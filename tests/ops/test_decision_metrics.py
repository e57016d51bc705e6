"""The drift decision series the alerts page on, and counters that exist before their first increment."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from stream_monitor.decisions.incident import LastRequest
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.validation import REASON_CODES
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import make_monitor, records

Drifted = tuple[Monitor, MonitorMetrics, CollectorRegistry]
MV = {"model": "fraud-detector", "version": "v1"}
INFO = "stream_monitor_retrain_request_info"
FEATURE = "stream_monitor_retrain_request_feature"


def _samples(reg: CollectorRegistry, name: str) -> list[dict[str, str]]:
    return [s.labels for m in reg.collect() for s in m.samples if s.name == name and s.value == 1]


@pytest.fixture
def drifted(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> Drifted:
    mon = make_monitor(demo_spec, demo_reference)
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    evs = list(generate(Scenario(kind="abrupt", change_at=1000, seed=3), 3000))
    out = mon.observe(records(evs), now=evs[-1]["timestamp"] + 5)
    metrics.observe(out, now=123.0)
    assert out.requests, "the scenario must make a retrain request"
    return mon, metrics, reg


def test_a_decided_request_is_exported_only_once_published(
    drifted: Drifted,
) -> None:
    mon, _, reg = drifted
    assert mon.pending
    assert _samples(reg, INFO) == []  # decided, not yet acknowledged by the broker
    mon.mark_published(list(mon.pending))
    last = mon.models["fraud-detector"].versions["v1"].policy.incident.last
    assert last is not None
    [info] = _samples(reg, INFO)
    assert info == {**MV, "request_id": last.request_id, "severity": last.severity,
                    "features": ",".join(last.features)}
    features = sorted(s["feature"] for s in _samples(reg, FEATURE))
    assert features == sorted(last.features)
    assert {s["request_id"] for s in _samples(reg, FEATURE)} == {last.request_id}


def test_request_series_ends_with_the_incident_and_never_carries_unconfigured_names(
    drifted: Drifted,
) -> None:
    mon, metrics, reg = drifted
    mon.mark_published(list(mon.pending))
    policy = mon.models["fraud-detector"].versions["v1"].policy
    assert policy.incident.last is not None
    # a state restored from a snapshot written by a build that named a feature no longer configured
    policy.incident.last = LastRequest(policy.incident.last.request_id, ("amount", "not-configured",
                                                                         "__prediction__"), "critical")
    assert _samples(reg, INFO)[0]["features"] == "amount,__prediction__"
    assert sorted(s["feature"] for s in _samples(reg, FEATURE)) == ["__prediction__", "amount"]
    policy.incident.close()
    assert _samples(reg, INFO) == _samples(reg, FEATURE) == []
    metrics.retire("fraud-detector", "v1")


def test_counters_exist_at_zero_before_their_first_increment(
    drifted: Drifted,
) -> None:
    _, metrics, reg = drifted

    def value(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    for source in ("predictions", "features", "labels"):
        assert value("stream_monitor_gap_seeks_total", source=source) == 0
        for reason in REASON_CODES:
            assert value("stream_monitor_dead_letter_total", source=source, reason=reason) == 0
    assert value("stream_monitor_retrain_requests_total", severity="warning", **MV) == 0
    assert value("stream_monitor_retrain_requests_total", severity="critical", **MV) == 0
    assert value("stream_monitor_events_consumed_total", kind="label", **MV) == 0
    assert value("stream_monitor_feature_join_expired_total", reason="ttl", **MV) == 0
    metrics.retire("fraud-detector", "v1")
    assert value("stream_monitor_retrain_requests_total", severity="warning", **MV) is None


def test_processing_lag_buckets_reach_seven_days(
    drifted: Drifted,
) -> None:
    _, _, reg = drifted
    les = {s.labels["le"] for m in reg.collect() for s in m.samples
           if s.name == "stream_monitor_processing_lag_seconds_bucket"}
    assert str(float(7 * 86400)) in les


def test_label_path_requests_are_exported_the_same_way() -> None:
    """One policy for both paths: a representation shift decided on the predictions (no labels
    needed) makes a label-path request, exported like a drift request once published, with
    its subjects (``attribute=group`` of a declared group) as the features; an undeclared
    group name never becomes a label value."""
    from stream_monitor.pipeline.monitor import SourceRecord
    from stream_monitor.tools.simulate_labels import LabelScenario, generate_labelled, labelled_model_config, to_json

    spec = ModelSpec.model_validate(labelled_model_config())
    mon = Monitor([spec], {spec.model_id: None}, max_message_bytes=1 << 20)
    reg = CollectorRegistry()
    MonitorMetrics(reg, lambda: [mon])
    evs = [p for p, _ in generate_labelled(LabelScenario(kind="representation", change_at=4000, seed=5), 10_000)]
    recs = [SourceRecord("prediction", to_json(e), "model-predictions", 0, i, spec.model_id.encode())  # type: ignore[arg-type]
            for i, e in enumerate(evs)]
    out = [mon.observe(recs[i:i + 1000], now=0.0) for i in range(0, len(recs), 1000)]
    requests = [r for o in out for r in o.requests]
    assert requests and all(r.reasons[0].detector.startswith("representation") for r in requests)
    assert _samples(reg, INFO) == []
    mon.mark_published(list(mon.pending))
    [info] = _samples(reg, INFO)
    assert info["request_id"] == requests[-1].request_id and info["severity"] == requests[-1].severity
    assert "region=south" in info["features"].split(",")
    pred = mon.outcomes[spec.model_id].versions["v1"].pred_policy
    assert pred.incident.last is not None
    pred.incident.last = LastRequest(pred.incident.last.request_id, ("region=south", "region=<script>", "x y"),
                                     "warning")
    assert _samples(reg, INFO)[0]["features"] == "region=south"
