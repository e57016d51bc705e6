"""The demo stamps its events with the current time, so that its processing lag is the worker's."""

from __future__ import annotations

import json
import time

from stream_monitor.tools.demo import DEMO_RATE, demo_scenario, malformed
from stream_monitor.tools.simulate import generate


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
