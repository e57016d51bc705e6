"""The label path at production rates: labels an hour late, the default configuration.

A calibrated binary classifier (~73% accuracy; 30% of events in a ``south``
group) predicts at 30 or 300 events per second; 90% of its predictions get
their label 3,600-3,720 s later (uniform), in label-time order. In the concept
scenario, from 1.25 h of event time on the labels of ``south`` flip: accuracy
falls to ~59%, while inputs, scores and predictions do not move. The label
path runs with the default ``labels`` settings (only ``task`` given). Seeds
are fixed; each test states what it expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.events.models import LabelEvent, PredictionEvent
from stream_monitor.pipeline.join_bounds import entry_bytes
from stream_monitor.pipeline.joins import JoinBuffer
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate_labels import labelled_model_config

T0 = 1_767_225_600.0
HOUR = 3600.0
CHANGE = 1.25 * HOUR


def _spec(**labels: Any) -> ModelSpec:
    cfg = labelled_model_config()
    cfg["labels"] = {"task": "binary", **labels}
    del cfg["fairness"]
    return ModelSpec.model_validate(cfg)


def _fast(cls: type[Any], **fields: Any) -> Any:
    """An event without validation or defaults (the generator's values are valid by
    construction): pydantic's model_construct costs ~10 us per event, this ~1 us."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


@dataclass
class Run:
    monitor: OutcomeMonitor
    requests: list[RetrainRequest]
    accuracy: list[tuple[float, float, bool]]  # (window end in prediction time, value, breach) of pair windows
    expired: int
    sampled: int
    joined: int


def _run(rate: float, hours: float, *, change: float | None, seed: int, spec: ModelSpec | None = None) -> Run:
    spec = spec or _spec()
    om = OutcomeMonitor(spec)
    rng = np.random.default_rng(seed)
    n = int(rate * hours * HOUR)
    ts = T0 + np.arange(n) / rate
    logit = 1.2 * rng.standard_normal(n) - 0.8 * rng.standard_normal(n)
    score = np.round(1 / (1 + np.exp(-logit)), 6)
    south = rng.random(n) < 0.3
    u = rng.random(n)
    flip = south & (ts >= T0 + change) if change is not None else np.zeros(n, bool)
    label = np.where(flip, u < 1 - score, u < score)
    label_ts = ts + HOUR + rng.uniform(0.0, 120.0, n)
    order = np.argsort(label_ts, kind="stable")
    order = order[(rng.random(n) < 0.9)[order]]
    out = Run(om, [], [], 0, 0, 0)
    i = j = 0
    t = T0
    while t < T0 + hours * HOUR:  # one batch per minute of event time, both topics merged by time
        batch: list[tuple[float, int, Any]] = []
        while i < n and ts[i] < t + 60.0:
            batch.append((ts[i], 0, _fast(PredictionEvent, kind="prediction", event_id=f"e{i}",
                                          model_id=spec.model_id, model_version="v1", timestamp=float(ts[i]),
                                          prediction=bool(score[i] >= 0.5), score=float(score[i]), scores=None,
                                          attributes=None, features=None, latency_ms=None)))
            i += 1
        while j < len(order) and label_ts[order[j]] < t + 60.0:
            k = int(order[j])
            batch.append((label_ts[k], 1, _fast(LabelEvent, kind="label", event_id=f"e{k}", model_id=spec.model_id,
                                                model_version=None, timestamp=float(label_ts[k]),
                                                label=bool(label[k]))))
            j += 1
        batch.sort(key=lambda x: (x[0], x[1]))
        b = om.observe([e for _, _, e in batch])
        out.requests.extend(b.requests)
        out.accuracy.extend((r.window.end, x.value, x.drift) for r in b.reports if r.source == "pairs"
                            for x in r.readings if x.kind == "performance" and x.statistic == "accuracy")
        out.expired += sum(b.expired.values())
        out.sampled += sum(b.sampled.values())
        out.joined += sum(len(d) for d in b.delays.values())
        t += 60.0
    return out


def _check_detects(r: Run, rate: float) -> float:
    vs = r.monitor.versions["v1"]
    assert vs.reference is not None
    # The reference comes from the first predictions (before the change): ~73% accurate.
    assert abs(vs.reference["accuracy"].value - 0.73) < 0.03 and vs.reference["accuracy"].n >= 1000
    before = [a for end, a, _ in r.accuracy if end < T0 + CHANGE]
    assert before and not any(b for end, _, b in r.accuracy if end < T0 + CHANGE)  # quiet before the change
    perf = [q for q in r.requests if any(x.detector.startswith("performance:") for x in q.reasons)]
    assert perf, "the accuracy drop was not reported"
    assert all(q.created_at >= T0 + CHANGE for q in r.requests)  # no request before the change
    # The pairs are a uniform sample of the traffic, so the windows before the change
    # measure the true accuracy; few predictions expire (10% never get a label).
    assert abs(float(np.mean(before)) - 0.73) < 0.02
    assert r.expired < 0.15 * rate * 2.5 * HOUR
    return (perf[0].created_at - T0 - CHANGE) / HOUR  # hours of prediction time after the change


def test_accuracy_drop_with_labels_an_hour_late_at_30_per_second() -> None:
    """At 30 predictions/s an hour of labels needs ~72 MB of waiting predictions, over the
    32 MiB default: the buffer keeps a uniform sample (seed 1: half of them), and the first
    request names the accuracy drop within 15 minutes of prediction time after the change
    (seed 1: 3.5 minutes), i.e. about 1 h 04 of event time after it with the label delay."""
    r = _run(30.0, 2.5, change=CHANGE, seed=1)
    assert _check_detects(r, 30.0) < 0.25
    join = r.monitor.join
    assert join is not None and join.keep_probability < 1 and r.sampled > r.expired
    assert join.bytes <= join.max_bytes


def test_stationary_stream_with_labels_an_hour_late_makes_no_request() -> None:
    """Seeds 2 and 3, 2.5 h at 30/s (66 pair windows each, keep probability 1/2): no request."""
    for seed in (2, 3):
        r = _run(30.0, 2.5, change=None, seed=seed)
        assert r.requests == [] and len(r.accuracy) > 50


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 2.7 M predictions and 2.4 M labels: ~2.5 minutes of CPU
def test_accuracy_drop_with_labels_an_hour_late_at_300_per_second() -> None:
    """300 predictions/s need ~20x the 32 MiB default for an hour of labels: the buffer
    keeps a uniform sample (seed 1: 1/32), reports the sampled-out predictions apart from
    the expired ones, and the drop is still requested within 15 minutes of prediction time
    after the change (seed 1: 4.7 minutes)."""
    r = _run(300.0, 2.5, change=CHANGE, seed=1)
    assert _check_detects(r, 300.0) < 0.25
    join = r.monitor.join
    assert join is not None and join.keep_probability <= 1 / 8 and r.sampled > r.expired
    assert join.bytes <= join.max_bytes


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_stationary_stream_at_300_per_second_makes_no_request() -> None:
    """Seed 4, 2.5 h at 300/s with labels an hour late: no request."""
    r = _run(300.0, 2.5, change=None, seed=4)
    assert r.requests == [] and len(r.accuracy) > 30


def test_ttl_follows_the_observed_label_delay_and_recovers_from_a_short_one() -> None:
    """Delays of 100 s set a TTL of 600 s (the floor); when delays grow to 2,000 s the
    labels of expired predictions still report their delay, so the TTL grows to cover them."""
    j = JoinBuffer(ttl_seconds=7 * 86400.0, max_pending=None, max_labels=100_000)
    assert j.ttl == 7 * 86400.0
    for i in range(200):
        j.add_prediction(f"a{i}", "v1", float(i), [None, "1", []])
        j.add_label(f"a{i}", None, float(i) + 100.0, "1")
    assert j.ttl == 600.0
    joined = 0
    for i in range(4000):
        t = 1000.0 + i
        j.add_prediction(f"b{i}", "v1", t, [None, "1", []])
        if i >= 2000:
            joined += len(j.add_label(f"b{i - 2000}", None, t, "1"))
    assert j.ttl >= 4000.0 and joined > 0  # the late labels taught it the longer delay


def test_sampling_keeps_a_uniform_sample_of_the_traffic() -> None:
    """At a cap of 1/8 of the need, the kept share of every tenth of the stream is
    within 3 binomial sigmas of the keep probability (seeded hash, fixed ids)."""
    j = JoinBuffer(ttl_seconds=1e6, max_pending=None, max_labels=10, max_bytes=1 << 20, seed=5)
    n = 16_000
    for i in range(n):
        j.add_prediction(f"id-{i}", "v1", float(i), [0.5, "1", []])
    p = j.keep_probability
    assert p < 1 and j.bytes <= j.max_bytes
    kept = np.zeros(10)
    for eid in j.preds:
        kept[int(eid.split("-")[1]) * 10 // n] += 1
    share = kept / (n / 10)
    assert np.all(np.abs(share - p) < 3 * np.sqrt(p * (1 - p) / (n / 10))), (share, p)


def test_reference_comes_from_the_reference_period_not_the_first_labels() -> None:
    """Labels of later predictions that arrive first never enter the reference: only
    pairs of the first ``learn_first_n`` predictions kept before any input drift do,
    and predictions made while the inputs drift are not part of it."""
    spec = _spec(learn_first_n=200, min_pairs=100, window_pairs=100)
    drifting = {"on": True}
    om = OutcomeMonitor(spec, input_drift=lambda _v: drifting["on"])

    def pred(i: int, correct: bool) -> Any:
        return _fast(PredictionEvent, kind="prediction", event_id=f"e{i}", model_id=spec.model_id,
                     model_version="v1", timestamp=float(i), prediction=correct, score=0.9 if correct else 0.1,
                     scores=None, attributes=None, features=None, latency_ms=None)

    def lab(i: int, t: float) -> Any:
        return _fast(LabelEvent, kind="label", event_id=f"e{i}", model_id=spec.model_id, model_version=None,
                     timestamp=t, label=True)

    om.observe([pred(i, False) for i in range(100)])  # inputs drift: not the reference period
    drifting["on"] = False
    om.observe([pred(i, True) for i in range(100, 300)])  # the reference period: all correct
    om.observe([pred(i, False) for i in range(300, 600)])  # after it: all wrong
    om.observe([lab(i, 1700.0 + i) for i in range(300, 600)])  # later predictions' labels come first
    vs = om.versions["v1"]
    assert vs.reference is None and vs.learning is not None and vs.learning.n == 0
    om.observe([lab(i, 1000.0 + i) for i in range(100, 300)])
    # The observed 99th-percentile delay (~1,450 s) has passed since the period's last
    # prediction: the reference is fixed as soon as it has min_pairs pairs, all of the period.
    assert vs.reference is not None and vs.reference["accuracy"].value == 1.0
    assert vs.reference["accuracy"].n == spec.labels.min_pairs and vs.labelled == 500  # type: ignore[union-attr]


def test_reference_waits_for_every_prediction_of_its_period() -> None:
    """Before 100 delays are seen, only a complete period (or its TTL) fixes the reference."""
    spec = _spec(learn_first_n=60, min_pairs=50, window_pairs=50)
    om = OutcomeMonitor(spec)
    preds = [_fast(PredictionEvent, kind="prediction", event_id=f"e{i}", model_id=spec.model_id, model_version="v1",
                   timestamp=float(i), prediction=True, score=0.9, scores=None, attributes=None, features=None,
                   latency_ms=None) for i in range(80)]
    om.observe(preds)
    labs = [_fast(LabelEvent, kind="label", event_id=f"e{i}", model_id=spec.model_id, model_version=None,
                  timestamp=100.0 + i, label=i % 2 == 0) for i in range(80)]
    om.observe(labs[:59])
    vs = om.versions["v1"]
    assert vs.reference is None and vs.learning is not None and vs.learning.n == 59
    om.observe(labs[59:])
    assert vs.reference is not None and vs.reference["accuracy"].n == 60
    assert vs.reference["accuracy"].value == 0.5 and vs.pairs.n == 20


def test_pins_cannot_break_the_memory_cap() -> None:
    """A reference period larger than the buffer (learn_first_n is configurable up to 10M):
    pins hold at most half the cap, the rest are sampled like any prediction."""
    j = JoinBuffer(ttl_seconds=1e6, max_pending=None, max_labels=10, max_bytes=1 << 20, seed=1)
    for i in range(10_000):
        j.add_prediction(f"id-{i}", "v1", float(i), [0.5, "1", []], pinned=True)
    assert j.pinned_bytes <= (1 << 20) // 2 and j.bytes <= 1 << 20 and j.keep_probability < 1
    pinned = [eid for eid, w in j.preds.items() for x in w.values() if x[2]]
    assert sum(entry_bytes(e, [0.5, "1", []]) for e in pinned) == j.pinned_bytes > (1 << 20) // 2 - 600
