"""The demo stamps its events with the current time, so that its processing lag is the worker's;
its labels follow a share of its predictions, later."""

from __future__ import annotations

import json
import time

from stream_monitor.tools.simulate import generate
from stream_monitor.tools.traffic import (
    DEMO_RATE,
    LABEL_DELAY_SECONDS,
    LABEL_SHARE,
    demo_labels,
    demo_predictions,
    demo_scenario,
    malformed,
)


def test_demo_events_start_now_and_advance_at_the_production_rate() -> None:
    now = time.time()
    events = list(generate(demo_scenario(1000, now), 4000))
    assert events[0]["timestamp"] == now
    # produced at DEMO_RATE events/s: the last one is stamped when it is sent, not hours off
    assert abs(events[-1]["timestamp"] - (now + 3999 / DEMO_RATE)) < 1e-6


def test_malformed_records_are_stamped_now() -> None:
    now = 1_800_000_000.5
    stamped = [json.loads(r) for r in malformed(now) if r.startswith(b'{"event_id":"x')]
    assert stamped and {r["timestamp"] for r in stamped} == {1_800_000_000}


def test_demo_labels_follow_a_share_of_the_predictions_later_in_time_order() -> None:
    now = 1_800_000_000.0
    predictions = demo_predictions(4000, 2000, now)
    labels = demo_labels(predictions)
    by_id = {e["event_id"]: e for e in predictions}
    assert abs(len(labels) / len(predictions) - LABEL_SHARE) < 0.03
    assert len({x["event_id"] for x in labels}) == len(labels) and all(x["event_id"] in by_id for x in labels)
    delays = [x["timestamp"] - by_id[x["event_id"]]["timestamp"] for x in labels]
    assert LABEL_DELAY_SECONDS[0] <= min(delays) and max(delays) <= LABEL_DELAY_SECONDS[1]
    assert [x["timestamp"] for x in labels] == sorted(x["timestamp"] for x in labels)  # sent in this order
    # ground truth of a calibrated model: positives about as often as the mean score says
    mean_score = sum(e["score"] for e in predictions) / len(predictions)
    positives = sum(x["label"] for x in labels) / len(labels)
    assert abs(positives - mean_score) < 0.02 and {x["model_id"] for x in labels} == {"fraud-detector"}


def test_a_later_part_of_the_demo_stream_starts_now_too() -> None:
    now = 1_800_000_000.0
    part = demo_predictions(4000, 2000, now, start=2000)
    assert len(part) == 2000 and part[0]["timestamp"] == now
    assert part[0]["event_id"].endswith("-2000")  # ids of the whole stream: labels of both parts join
