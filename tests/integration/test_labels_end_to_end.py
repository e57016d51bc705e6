"""The label path end to end on the real embedded broker.

Predictions of credit-scorer on the prediction topic; delayed, shuffled,
duplicated and partial labels (70%) later on the label topic. The performance,
coverage, join and group-share series scraped from /metrics must equal the
values computed directly from the produced data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from stream_monitor.tools.simulate_labels import (
    LabelScenario,
    generate_labelled,
    label_events,
    labelled_model_config,
    to_json,
)
from tests.conftest import ROOT

from .conftest import Stack
from .kafka_helpers import produce, sample, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

MODEL = "credit-scorer"
MV = {"model": MODEL, "version": "v1"}


def test_delayed_labels_on_their_own_topic_give_exact_performance_gauges(stack: Stack) -> None:
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())["models"][0]
    demo["reference"]["profile"] = str(ROOT / "config" / "fraud-detector.profile.json")
    scorer = labelled_model_config(labels={"reference_performance": {"accuracy": 0.73, "roc_auc": 0.81},
                                           "learn_first_n": None, "window_pairs": 1000})
    stack.overrides = {"models": [demo, scorer]}
    t = stack.topics
    worker = stack.worker().start()
    pairs = list(generate_labelled(LabelScenario(seed=31), 3000))
    events, truth = [p for p, _ in pairs], [y for _, y in pairs]
    labels = label_events(events, truth, coverage=0.7, duplicate_rate=0.1, shuffle=True, seed=31)

    key = MODEL.encode()
    produce(stack.broker.bootstrap, t["predictions"], [to_json(e) for e in events], key=key)
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", kind="prediction", **MV)
             == 3000, 60, what="3000 predictions consumed")
    produce(stack.broker.bootstrap, t["labels"], [to_json(x) for x in labels], key=key)

    # What the worker must report, computed from the produced data: labels join in topic order,
    # duplicates once; pair windows of 1000; the last closed one holds joins 1000..1999.
    by_id = {e["event_id"]: (e, y) for e, y in zip(events, truth, strict=True)}
    distinct: list[str] = list(dict.fromkeys(x["event_id"] for x in labels))
    delays = {x["event_id"]: x["timestamp"] - by_id[x["event_id"]][0]["timestamp"] for x in reversed(labels)}
    window = [by_id[eid] for eid in distinct[1000:2000]]
    pred = np.array([e["prediction"] for e, _ in window])
    y = np.array([v for _, v in window])
    s = np.array([e["score"] for e, _ in window])
    tp = int((pred & y).sum())
    expected = {
        "accuracy": float((pred == y).mean()),
        "precision": tp / int(pred.sum()),
        "recall": tp / int(y.sum()),
        "f1": 2 * tp / int(pred.sum() + y.sum()),
        "log_loss": float(-np.mean(np.where(y, np.log(s), np.log(1 - s)))),
    }
    auc = float(np.mean([(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]]))

    wait_for(lambda: sample(worker.metrics(), "stream_monitor_labels_joined_total", **MV) == len(distinct), 60,
             what="every distinct label joined")
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_performance_metric", metric="accuracy", **MV)
             is not None, 30, what="a closed pair window")
    text = worker.metrics()
    for metric, value in expected.items():
        got = sample(text, "stream_monitor_performance_metric", metric=metric, **MV)
        assert got is not None and math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-9), (metric, got, value)
    got_auc = sample(text, "stream_monitor_performance_metric", metric="roc_auc", **MV)
    assert got_auc is not None and abs(got_auc - auc) < 0.01  # binned AUC
    assert sample(text, "stream_monitor_performance_reference", metric="accuracy", **MV) == 0.73
    drop = sample(text, "stream_monitor_performance_drop", metric="accuracy", **MV)
    assert drop is not None and math.isclose(drop, 0.73 - expected["accuracy"], abs_tol=1e-9)
    coverage = sample(text, "stream_monitor_label_coverage_ratio", **MV)
    assert coverage is not None and math.isclose(coverage, len(distinct) / 3000)
    assert sample(text, "stream_monitor_labels_duplicate_total", model=MODEL) == len(labels) - len(distinct)
    assert sample(text, "stream_monitor_label_delay_seconds_count", **MV) == len(distinct)
    delay_sum = sample(text, "stream_monitor_label_delay_seconds_sum", **MV)
    assert delay_sum is not None and math.isclose(delay_sum, sum(delays[e] for e in distinct), rel_tol=1e-6)
    assert sample(text, "stream_monitor_events_consumed_total", kind="label", model=MODEL, version="unknown") \
        == len(labels)
    # group shares: fairness learns its reference shares from the first 1000 predictions,
    # then windows of 1000: the last closed one is predictions 2000..2999
    south = sum(e["attributes"]["region"] == "south" for e in events[2000:3000]) / 1000
    share = sample(text, "stream_monitor_group_share", attribute="region", group="south", **MV)
    assert share is not None and math.isclose(share, south)
    assert sample(text, "stream_monitor_fairness_sample_size", attribute="region",
                  metric="disparate_impact_ratio", **MV) is not None
    assert worker.stop() == 0
