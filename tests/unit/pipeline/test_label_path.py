"""The label path: join, performance, concept drift, estimation, fairness, versions, metrics.

Seeded scenarios of :mod:`stream_monitor.tools.simulate_labels` (credit-scorer: two
inputs, calibrated score, ~73% accuracy, region north 70% / south 30%). Each
breach scenario must be detected; its stationary twin must stay quiet.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import zlib
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from river.drift.binary import DDM as RiverDDM

from stream_monitor.detectors.ddm import DDM
from stream_monitor.detectors.streaming import check_model_spec
from stream_monitor.pipeline.join_bounds import entry_bytes
from stream_monitor.pipeline.joins import JoinBuffer
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.pipeline.monitor import Monitor, Outcome, SourceRecord
from stream_monitor.sinks.prometheus import MonitorMetrics
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate_labels import (
    LABELLED_MODEL,
    LabelScenario,
    arrival_order,
    generate_labelled,
    label_events,
    labelled_model_config,
    to_json,
)
from stream_monitor.windows.performance import PerformanceAccumulator
from stream_monitor.windows.state import PerformanceState
from tests.conftest import make_monitor, records
from tests.tool_markers import program

MODEL = "credit-scorer"


def _spec(**overrides: Any) -> ModelSpec:
    return ModelSpec.model_validate(labelled_model_config(**overrides))


def _records(order: list[tuple[str, dict[str, Any]]]) -> list[SourceRecord]:
    offsets = {"prediction": 0, "label": 0}
    out = []
    for kind, e in order:
        topic = "model-predictions" if kind == "prediction" else "model-labels"
        out.append(SourceRecord(kind, to_json(e), topic, 0, offsets[kind], MODEL.encode()))  # type: ignore[arg-type]
        offsets[kind] += 1
    return out


def _run(mon: Monitor, recs: list[SourceRecord], batch: int = 500) -> list[Outcome]:
    return [mon.observe(recs[i:i + batch], now=0.0) for i in range(0, len(recs), batch)]


def _scenario(kind: str, seed: int = 11, n: int = 12_000, spec: ModelSpec | None = None, **labels: Any
              ) -> tuple[Monitor, list[Outcome], list[dict[str, Any]], list[bool], list[dict[str, Any]]]:
    spec = spec or _spec()
    mon = Monitor([spec], {MODEL: None}, max_message_bytes=1 << 20)
    pairs = list(generate_labelled(LabelScenario(kind=kind, change_at=n // 2, seed=seed), n))  # type: ignore[arg-type]
    events, truth = [p for p, _ in pairs], [t for _, t in pairs]
    labs = label_events(events, truth, **{"coverage": 0.8, "duplicate_rate": 0.1, "seed": seed, **labels})
    return mon, _run(mon, _records(arrival_order(events, labs))), events, truth, labs


def _requests(outs: list[Outcome]) -> list[Any]:
    return [r for o in outs for r in o.requests]


def _label_reports(outs: list[Outcome]) -> list[Any]:
    return [r for o in outs for b in o.outcomes.values() for r in b.reports]


# -- the join ----------------------------------------------------------------------------


def test_join_buffer_counts_ttl_sampling_duplicates_and_orphans() -> None:
    j = JoinBuffer(ttl_seconds=100.0, max_pending=3, max_labels=3)
    j.add_prediction("pinned", "v1", 0.0, [None, "1", []], pinned=True)
    for i in range(5):  # more than 3 wait: the buffer samples instead of evicting the oldest
        assert j.add_prediction(f"p{i}", "v1", float(i), [None, "1", []]) == []
    p = j.keep_probability
    kept = {e for e in j.preds if e != "pinned"}
    assert p < 1 and j.n_preds <= 3 and "pinned" in j.preds and j.expired == {}
    assert j.sampled == {"v1": 5 - len(kept)}
    assert all(_u(j, e) < p for e in kept) and all(_u(j, f"p{i}") >= p for i in range(5) if f"p{i}" not in kept)
    e = sorted(kept)[0]
    assert [x.event_id for x in j.add_label(e, None, 10.0, "1")] == [e]
    assert j.add_label(e, None, 11.0, "1") == [] and j.duplicates == 1  # idempotent
    assert j.add_prediction(e, "v1", 4.0, [None, "1", []]) == [] and j.duplicates == 2
    assert [x.version for x in j.add_prediction(e, "v2", 4.0, [None, "0", []])] == ["v2"]  # shadow version joins
    ghost = next(f"g{i}" for i in range(100) if _u(j, f"g{i}") < j.keep_probability)
    j.add_label(ghost, None, 12.0, "0")
    j.advance(500.0)
    expired, orphaned, duplicates = j.drain()
    assert expired == {("v1", "ttl"): len(kept)} and orphaned == {"ttl": 1} and duplicates == 2
    assert j.preds == {} and j.labels == {} and j.bytes == 0 and j.n_preds == 0


def _u(j: JoinBuffer, event_id: str) -> float:
    from stream_monitor.pipeline.join_bounds import uniform

    return uniform(j.seed, event_id)


def test_delayed_shuffled_duplicated_missing_labels_join_exactly() -> None:
    spec = _spec(labels={"reference_performance": {"accuracy": 0.73}, "learn_first_n": None, "window_pairs": 1000})
    mon, outs, events, truth, labs = _scenario("stationary", n=5000, spec=spec, coverage=0.7, duplicate_rate=0.2,
                                               delay_seconds=(0.0, 3600.0), shuffle=True)
    batches = [o.outcomes[MODEL] for o in outs if MODEL in o.outcomes]
    distinct = {lab["event_id"] for lab in labs}
    joined = sum(len(d) for b in batches for d in b.delays.values())
    assert joined == len(distinct)  # every label joined once ...
    assert sum(b.duplicates for b in batches) == len(labs) - len(distinct)  # ... duplicates counted, not joined
    vs = mon.outcomes[MODEL].versions["v1"]
    assert vs.coverage == pytest.approx(len(distinct) / len(events))
    assert all(0.0 <= d <= 3600.0 for b in batches for ds in b.delays.values() for d in ds)
    # the first closed window holds the first 1000 joins, in label arrival order: recompute it from the data
    by_id = {e["event_id"]: (e, y) for e, y in zip(events, truth, strict=True)}
    seen: set[str] = set()
    first: list[tuple[dict[str, Any], bool]] = []
    for _, lab in arrival_order(events, labs):
        if lab.get("kind") == "label" and lab["event_id"] not in seen:
            seen.add(lab["event_id"])
            first.append(by_id[lab["event_id"]])
    first = first[:1000]
    pred = np.array([e["prediction"] for e, _ in first])
    y = np.array([t for _, t in first])
    s = np.clip([e["score"] for e, _ in first], 1e-15, 1 - 1e-15)
    tp = int((pred & y).sum())
    window0 = next(r for r in _label_reports(outs) if r.source == "pairs" and r.window.index == 0)
    acc = next(r for r in window0.readings if r.statistic == "accuracy" and r.kind == "performance")
    assert acc.value == pytest.approx((pred == y).mean()) and acc.n == 1000
    direct = PerformanceAccumulator.empty("binary")
    for (e, t) in first:
        direct.add_binary(e["prediction"], e["score"], t)
    m = direct.metrics()
    assert m["precision"].value == pytest.approx(tp / pred.sum())
    assert m["recall"].value == pytest.approx(tp / y.sum())
    assert m["log_loss"].value == pytest.approx(float(-np.mean(np.where(y, np.log(s), np.log(1 - s)))))
    exact_auc = float(np.mean([(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]]))
    assert abs(m["roc_auc"].value - exact_auc) < 0.01  # binned AUC (50 logit-spaced bins)


def test_labels_before_predictions_join_and_unlabelled_expire() -> None:
    spec = _spec(labels={"join_ttl_seconds": 600.0})
    mon = Monitor([spec], {MODEL: None}, max_message_bytes=1 << 20)
    pairs = list(generate_labelled(LabelScenario(seed=3), 3000))
    events, truth = [p for p, _ in pairs], [t for _, t in pairs]
    labs = label_events(events[:2000], truth[:2000], coverage=1.0, delay_seconds=(0.0, 1.0), shuffle=False)
    early = [("label", x) for x in labs[:500]]  # labels of the first 500 predictions come first
    outs = _run(mon, _records([*early, *[("prediction", e) for e in events], *[("label", x) for x in labs[500:]]]))
    batches = [o.outcomes[MODEL] for o in outs if MODEL in o.outcomes]
    joined = sum(len(d) for b in batches for d in b.delays.values())
    expired = sum(n for b in batches for n in b.expired.values())
    orphaned = sum(n for b in batches for n in b.orphaned.values())
    # event time runs 300 s over 3000 predictions: nothing is older than the TTL yet
    assert (joined, expired, orphaned) == (2000, 0, 0)
    # a label for an event never predicted, then one that moves event time past the TTL of everything
    late = {"kind": "label", "event_id": "never-predicted", "model_id": MODEL, "timestamp": events[-1]["timestamp"]}
    beyond = {**late, "event_id": "x", "timestamp": events[-1]["timestamp"] + 2000.0}
    rec = [SourceRecord("label", to_json({**late, "label": True}), "model-labels", 0, 2000),
           SourceRecord("label", to_json({**beyond, "label": False}), "model-labels", 0, 2001)]
    batch = mon.observe(rec, now=0.0).outcomes[MODEL]
    assert batch.expired == {("v1", "ttl"): 1000} and batch.orphaned == {"ttl": 1}


# -- performance accumulators ------------------------------------------------------------


def test_multiclass_and_regression_metrics_match_direct_computation() -> None:
    rng = np.random.default_rng(4)
    classes = ["a", "b", "c"]
    acc = PerformanceAccumulator.empty("multiclass")
    ys, ps = [], []
    for _ in range(600):
        y = classes[int(rng.integers(3))]
        p = y if rng.random() < 0.6 else classes[int(rng.integers(3))]
        probs = {c: (0.6 if c == p else 0.2) for c in classes}
        acc.add_multiclass(p, probs, y)
        ys.append(y)
        ps.append(p)
    m = acc.metrics()
    ya, pa = np.array(ys), np.array(ps)
    assert m["accuracy"].value == pytest.approx((ya == pa).mean())
    recall = np.mean([((pa == c) & (ya == c)).sum() / (ya == c).sum() for c in classes])
    assert m["recall"].value == pytest.approx(recall)
    assert m["log_loss"].value == pytest.approx(float(np.mean([-math.log(0.6 if p == y else 0.2)
                                                               for p, y in zip(ps, ys, strict=True)])))
    reg = PerformanceAccumulator.empty("regression")
    y = rng.normal(10, 2, 500)
    pred = y + rng.normal(0.5, 1, 500)
    for a, b in zip(pred, y, strict=True):
        reg.add_regression(float(a), float(b))
    r = reg.metrics()
    e = pred - y
    assert r["mae"].value == pytest.approx(np.abs(e).mean())
    assert r["rmse"].value == pytest.approx(math.sqrt((e**2).mean()))
    assert r["bias"].value == pytest.approx(e.mean())
    assert r["mape"].value == pytest.approx(np.abs(e / y).mean())
    half = PerformanceAccumulator.from_state(PerformanceState.model_validate_json(reg.to_state().model_dump_json()))
    assert half.merge(PerformanceAccumulator.empty("regression")).metrics()["mae"] == r["mae"]


def test_ddm_fires_on_the_same_updates_as_river() -> None:
    for seed in range(3):
        rng = random.Random(seed)
        ours, theirs = DDM(), RiverDDM()
        for i in range(5000):
            x = rng.random() < (0.1 if i < 2500 else 0.25)
            ours.update(x)
            theirs.update(x)
            assert ours.drift_detected == theirs.drift_detected, (seed, i)


# -- scenarios: each detected, its stationary twin quiet -------------------------------------


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_stationary_twin_stays_quiet(seed: int) -> None:
    mon, outs, *_ = _scenario("stationary", seed=seed)
    assert _requests(outs) == []
    vs = mon.outcomes[MODEL].versions["v1"]
    assert vs.last_pairs is not None and vs.last_preds is not None  # windows did close and were judged
    assert vs.pair_policy.state.value != "drift" and vs.pred_policy.state.value != "drift"


def _reasons(outs: list[Outcome]) -> set[tuple[str, str | None]]:
    return {(x.detector, x.feature) for r in _requests(outs) for x in r.reasons}


def test_concept_drift_is_seen_only_through_the_labels() -> None:
    mon, outs, *_ = _scenario("concept")
    reasons = _reasons(outs)
    assert any(d.startswith("performance:") for d, _ in reasons)
    assert any(x.kind == "performance" and x.statistic == "accuracy" and x.drift
               for r in _label_reports(outs) for x in r.readings)
    # inputs, scores and predictions did not move: the drift path stays quiet ...
    assert all(not x.detector.startswith(("ks", "psi", "chi2", "mmd")) for r in _requests(outs) for x in r.reasons)
    assert all(not rep.model_drift for o in outs for rep in o.reports)
    # ... the realized accuracy falls below the label-free estimate from the same scores: the relation moved
    pairs = [r for r in _label_reports(outs) if r.source == "pairs" and r.model_drift]
    assert pairs and all(r.cause == "concept" for r in pairs)
    assert any(x.kind == "estimate" and x.drift for r in pairs for x in r.readings)
    assert any(x.kind == "concept" and x.drift for r in pairs for x in r.readings)  # ADWIN/DDM on the errors
    first = min(r.window.start for r in pairs if r.window.start is not None)
    assert first >= LabelScenario().start_time + 6000 / 10 - 600  # no breach before the change (minus label delay)


def test_representation_shift_30_to_5_percent_is_detected() -> None:
    mon, outs, *_ = _scenario("representation")
    assert ("representation:share_ratio", "region=south") in _reasons(outs)
    vs = mon.outcomes[MODEL].versions["v1"]
    assert vs.group_shares["region"]["south"] < 0.1
    req = next(r for r in _requests(outs) if r.reasons[0].detector.startswith("representation"))
    ratio = next(x for x in req.reasons if x.feature == "region=south")
    assert ratio.value < 0.5 and ratio.threshold == 0.5


def test_fairness_breach_when_positives_of_one_group_halve() -> None:
    mon, outs, *_ = _scenario("fairness")
    reasons = _reasons(outs)
    assert ("fairness:disparate_impact_ratio", "region=south") in reasons
    assert ("fairness:tpr_gap", "region=south") in reasons  # with labels: equal opportunity too
    req = next(r for r in _requests(outs) if ("fairness:disparate_impact_ratio", "region=south")
               in {(x.detector, x.feature) for x in r.reasons})
    di = next(x for x in req.reasons if x.detector == "fairness:disparate_impact_ratio")
    assert di.value < 0.8 and di.threshold == 0.8


def test_small_groups_are_suppressed() -> None:
    spec = _spec(fairness={"min_group_size": 5000})
    mon, outs, *_ = _scenario("fairness", spec=spec)
    assert not any(x.kind == "fairness" for r in _label_reports(outs) for x in r.readings)
    assert all(not x.detector.startswith("fairness") for r in _requests(outs) for x in r.reasons)


# -- estimation, versions, state, metrics, config --------------------------------------------


def test_label_free_estimate_brackets_the_realized_accuracy() -> None:
    mon, outs, *_ = _scenario("stationary", seed=5, n=20_000)
    checks = [x for r in _label_reports(outs) if r.source == "pairs" for x in r.readings if x.kind == "estimate"]
    assert len(checks) >= 10
    inside = [abs(x.value - x.baseline) <= 1.96 * x.se for x in checks]
    assert sum(inside) / len(inside) >= 0.8  # 95% bounds, a handful of windows
    est = mon.outcomes[MODEL].versions["v1"].estimates["accuracy"]
    assert est[1] < 0.733 < est[2]


def test_champion_challenger_differences() -> None:
    spec = _spec(max_versions=2)
    mon = Monitor([spec], {MODEL: None}, max_message_bytes=1 << 20)
    pairs = list(generate_labelled(LabelScenario(seed=8), 8000))
    champion = [e for e, _ in pairs]
    # the challenger scores the same events, worse: its scores are squashed towards 0.5 and noisy
    rng = np.random.default_rng(1)
    challenger = []
    for e in champion:
        s = float(np.clip(0.5 + 0.3 * (e["score"] - 0.5) + rng.normal(0, 0.1), 0.001, 0.999))
        challenger.append({**e, "model_version": "v2", "score": round(s, 6), "prediction": s >= 0.5})
    labs = label_events(champion, [t for _, t in pairs], coverage=1.0, seed=2)
    both = [x for pair in zip(champion, challenger, strict=True) for x in pair]
    _run(mon, _records(arrival_order(both, labs)))
    om = mon.outcomes[MODEL]
    v1, v2 = om.versions["v1"], om.versions["v2"]
    assert v2.differences[("v1", "score_psi")] > 0.2
    assert v2.differences[("v1", "accuracy")] < 0 and v1.differences[("v2", "accuracy")] > 0
    assert v1.labelled == v2.labelled == 8000  # one label joined both versions


def test_snapshot_restore_continues_identically_and_old_snapshots_load() -> None:
    pairs = list(generate_labelled(LabelScenario(kind="concept", change_at=3000, seed=4), 6000))
    events, truth = [p for p, _ in pairs], [t for _, t in pairs]
    recs = _records(arrival_order(events, label_events(events, truth, coverage=0.9, duplicate_rate=0.1)))
    spec = _spec()
    whole = Monitor([spec], {MODEL: None}, max_message_bytes=1 << 20)
    _run(whole, recs)
    first = Monitor([spec], {MODEL: None}, max_message_bytes=1 << 20)
    half = len(recs) // 2
    _run(first, recs[:half])
    blob = first.snapshot()
    second = Monitor([spec], {MODEL: None}, max_message_bytes=1 << 20)
    assert second.restore(blob) == []
    _run(second, recs[half:])
    assert json.dumps(second.to_state(), sort_keys=True) == json.dumps(whole.to_state(), sort_keys=True)
    state = json.loads(zlib.decompress(blob))
    waiting = state["outcomes"][MODEL]["join"]["preds"]
    assert sum(entry_bytes(p[0], p[3]) for p in waiting) <= spec.labels.max_pending_bytes  # type: ignore[union-attr]
    del state["outcomes"]  # a (version-1) snapshot from before the label path
    state["schema"] = 1
    old = Monitor([spec], {MODEL: None}, max_message_bytes=1 << 20)
    assert old.restore(zlib.compress(json.dumps(state).encode())) == []
    assert old.outcomes[MODEL].versions == {} and old.models[MODEL].versions


def test_label_config_change_resets_only_the_label_path() -> None:
    mon, *_ = _scenario("stationary", n=3000)
    blob = mon.snapshot()
    other = Monitor([_spec(labels={"window_pairs": 500})], {MODEL: None}, max_message_bytes=1 << 20)
    assert other.restore(blob) == [MODEL]
    assert other.models[MODEL].versions and not other.outcomes[MODEL].versions


def test_metrics_export() -> None:
    mon, outs, *_ = _scenario("fairness")
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    for o in outs:
        metrics.observe(o, now=0.0)
    vs = mon.outcomes[MODEL].versions["v1"]
    mv = {"model": MODEL, "version": "v1"}
    get = reg.get_sample_value
    assert get("stream_monitor_performance_metric", {**mv, "metric": "accuracy"}) == vs.metrics["accuracy"].value
    assert get("stream_monitor_performance_reference", {**mv, "metric": "accuracy"}) == vs.reference["accuracy"].value  # type: ignore[index]
    assert get("stream_monitor_label_coverage_ratio", mv) == pytest.approx(vs.coverage)
    assert get("stream_monitor_fairness_breach", {**mv, "attribute": "region",
                                                  "metric": "disparate_impact_ratio"}) == 1.0
    assert get("stream_monitor_group_share", {**mv, "attribute": "region", "group": "south"}) > 0.2  # type: ignore[operator]
    assert get("stream_monitor_performance_estimate", {**mv, "metric": "accuracy", "bound": "lower"}) is not None
    assert get("stream_monitor_labels_joined_total", mv) == vs.labelled
    assert get("stream_monitor_label_delay_seconds_count", mv) == vs.labelled
    assert get("stream_monitor_labels_duplicate_total", {"model": MODEL}) > 0  # type: ignore[operator]
    # one scrape-time collector serves both paths, from the policy's judged readings
    by_name = reg._names_to_collectors  # type: ignore[attr-defined]
    assert by_name["stream_monitor_fairness_breach"] is by_name["stream_monitor_drift_statistic"] \
        is by_name["stream_monitor_performance_breach"] is by_name["stream_monitor_label_join_keep_probability"]
    judged = {(x.attribute, x.statistic): x.drift for r in (vs.last_preds, vs.last_pairs) if r is not None
              for x in r.readings if x.kind == "fairness"}
    assert judged and all(get("stream_monitor_fairness_breach", {**mv, "attribute": a, "metric": m}) == float(d)
                          for (a, m), d in judged.items())


@pytest.mark.promtool
def test_label_path_exposition_passes_promtool_lint() -> None:
    mon, outs, *_ = _scenario("fairness")
    reg = CollectorRegistry()
    metrics = MonitorMetrics(reg, lambda: [mon])
    for o in outs:
        metrics.observe(o, now=0.0)
    res = subprocess.run([program("promtool"), "check", "metrics"], input=generate_latest(reg), capture_output=True,
                         timeout=30, check=False)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"labels": {"reference_performance": {"mae": 1.0}}}, "not a binary metric"),
        ({"labels": {"task": "regression", "learn_first_n": None, "reference_performance": {"mae": 1.0}}},
         "ddm needs 0/1 errors"),
        ({"fairness": {"groups": {"country": ["DE"]}}}, "not in sensitive_attributes"),
        ({"fairness": {"reference_shares": {"region": {"north": 0.5, "south": 0.4}}}}, "must sum to 1"),
        ({"labels": {"concept": [{"kind": "adwin", "params": {"delta": 2}}]}}, "concept adwin"),
        ({"labels": {"min_pairs": 5000}}, "min_pairs"),
    ],
)
def test_invalid_label_config_is_rejected(override: dict[str, Any], message: str) -> None:
    # The spec checks its own fields (ValidationError); the concept detectors' parameters are
    # checked by the detectors (ValueError), as ServiceSettings and the monitor run them.
    with pytest.raises(ValueError, match=message):
        check_model_spec(_spec(**override))
    if message == "concept adwin":
        with pytest.raises(ValueError, match=message):
            Monitor([_spec(**override)], {LABELLED_MODEL: None}, max_message_bytes=1 << 20)


def test_models_without_a_label_path_keep_the_old_behaviour(demo_spec: ModelSpec, demo_reference: Any) -> None:
    assert demo_spec.labels is None and demo_spec.fairness is None
    mon = make_monitor(demo_spec, demo_reference)
    label = {"event_id": "e", "model_id": "fraud-detector", "timestamp": 1, "label": True}
    out = mon.observe(records([label], topic="model-labels", kind="label"), now=0)
    assert mon.outcomes == {} and out.outcomes == {} and out.consumed == {("fraud-detector", "unknown", "label"): 1}
    assert "outcomes" in mon.to_state() and mon.to_state()["outcomes"] == {}
    with pytest.raises(ValueError, match="no labels or fairness"):
        OutcomeMonitor(demo_spec)


def test_label_path_request_ids_never_repeat_when_a_retired_version_returns() -> None:
    """The label path's request ids carry the version's incarnation, like the drift path's: the same
    breach of v1, retired in between (max_versions) and seen again later, makes new ids."""
    from stream_monitor.events import PredictionEvent

    spec = _spec()
    om = OutcomeMonitor(spec)

    def life(start: float) -> list[Any]:
        evs = [p for p, _ in generate_labelled(LabelScenario(kind="representation", change_at=4000, seed=5), 10_000)]
        return [PredictionEvent.model_validate({**e, "timestamp": start + i}) for i, e in enumerate(evs)]

    first = om.observe(life(1_000.0)).requests
    assert first, "the representation shift makes a request"
    one = life(20_000.0)[0]
    for v in (f"v{i}" for i in range(2, 2 + spec.max_versions)):  # v1 is retired
        om.observe([one.model_copy(update={"model_version": v})])
    assert "v1" not in om.versions
    again = om.observe(life(50_000.0)).requests  # the same breach, later
    assert again and not {r.request_id for r in first} & {r.request_id for r in again}
    assert [r.reasons[0].detector for r in again] == [r.reasons[0].detector for r in first]
