"""Input the worker must bound or refuse, end to end through ``stream-monitor run`` on
the embedded broker: 10,000 distinct model versions on every event kind (series
counted on /metrics), a PII canary in ``model_version`` (never on /metrics or
/status), and records the contract refuses (numeric strings, unbounded RFC 3339
timestamps, duplicate keys, event times far ahead) on the dead-letter topic with
their reasons."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from stream_monitor.tools.simulate import Scenario, generate, to_json

from .conftest import Stack
from .kafka_helpers import produce, read_topic, sample, scrape, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

BASE = next(iter(generate(Scenario(), 1)))
MODEL = BASE["model_id"]
PII = "jane.doe.canary@example.com"
N = 10_000


def _series(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def _envelopes(events: list[dict[str, Any]], size: int = 500) -> list[bytes]:
    return [to_json({"kind": "batch", "events": events[i:i + size]}) for i in range(0, len(events), size)]


def test_ten_thousand_versions_per_kind_and_a_pii_canary(stack: Stack) -> None:
    t = stack.topics
    worker = stack.worker().start()
    bootstrap = stack.broker.bootstrap
    t0 = BASE["timestamp"]
    # The canary first (malformed for a label value: never learned), then v1.
    produce(bootstrap, t["predictions"], [to_json({**BASE, "event_id": "canary", "model_version": PII}),
                                          *(to_json({**BASE, "event_id": f"v1-{i}"}) for i in range(5))])
    produce(bootstrap, t["labels"], [to_json({"event_id": "canary", "model_id": MODEL, "model_version": PII,
                                              "timestamp": t0, "label": 1})])
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", model=MODEL, version="v1",
                            kind="prediction") == 5, 60, what="v1 consumed")
    baseline = _series(worker.metrics())

    def events(kind: str) -> list[dict[str, Any]]:
        out = []
        for i in range(N):
            e: dict[str, Any] = {"kind": kind, "event_id": f"{kind}-{i}", "model_id": MODEL,
                                 "model_version": f"v-{kind}-{i:05d}", "timestamp": t0 + i * 0.001}
            if kind == "prediction":
                e.update(features=BASE["features"], prediction=BASE["prediction"], score=BASE["score"])
            elif kind == "feature":
                e["features"] = BASE["features"]
            else:
                e["label"] = i % 2
            out.append(e)
        return out

    produce(bootstrap, t["predictions"], _envelopes(events("prediction")))
    produce(bootstrap, t["features"], _envelopes(events("feature")))
    produce(bootstrap, t["labels"], _envelopes(events("label")))
    # Predictions: two versions learned (v1 took the first place), the rest and the canary
    # are "other"; feature events find the allow-list full; labels never teach versions.
    for kind, expected in (("prediction", N - 2 + 1), ("feature", N), ("label", N + 1)):
        wait_for(lambda kind=kind, expected=expected: sample(  # type: ignore[misc]
            worker.metrics(), "stream_monitor_events_consumed_total", model=MODEL, version="other", kind=kind)
            == expected, 90, what=f"{kind}s of other versions consumed")
    text = worker.metrics()
    lines = _series(text)
    versions = {ln.split('version="', 1)[1].split('"', 1)[0] for ln in lines
                if 'version="' in ln and not ln.startswith("stream_monitor_build_info")}
    assert versions <= {"v1", "v-prediction-00000", "v-prediction-00001", "other"}, versions
    # The figure: 30,000 distinct versions add a bounded number of series (56 on
    # 2026-12-07, against v1's 42); before the allow-list, one label version alone made two.
    def series(text_lines: list[str]) -> set[str]:  # names and labels, without values
        return {ln.rsplit(" ", 1)[0] for ln in text_lines}

    # Bound: the series of the two learned versions (at most as many as v1 has each) and the
    # other-counters of each kind (consumed and overflow, with their _created). v1's own
    # series are left out of the count: they were there before the flood, but some (the lag
    # histogram's buckets) can appear after the baseline scrape on a loaded machine.
    v1 = {k for k in series(lines) if 'version="v1"' in k}
    added = len(series(lines) - series(baseline) - v1)
    assert added <= 2 * len(v1) + 12, (added, len(v1))
    assert sample(text, "stream_monitor_version_overflow_total", model=MODEL, kind="prediction") == N - 2 + 1
    assert sample(text, "stream_monitor_version_overflow_total", model=MODEL, kind="feature") == N
    status = scrape(worker.url + "/status") + scrape(worker.url + "/status.json")
    for page in (text, status):
        assert PII not in page and "canary" not in page
    assert "canary" not in worker.log_text()


def test_contract_violations_are_dead_lettered_with_their_reasons(stack: Stack) -> None:
    t = stack.topics
    worker = stack.worker().start()
    good = to_json(BASE)
    assert good.count(b'"model_id":') == 1
    refused = {
        "score as a numeric string": (to_json({**BASE, "score": "0.5"}), "schema_violation"),
        "latency as a numeric string": (to_json({**BASE, "latency_ms": "2"}), "schema_violation"),
        "RFC 3339 before 1971": (to_json({**BASE, "timestamp": "0001-01-01T00:00:00Z"}), "schema_violation"),
        "RFC 3339 without offset": (to_json({**BASE, "timestamp": "2026-01-01T00:00:00"}), "schema_violation"),
        "repeated top-level key": (good.replace(b'"model_id":', b'"model_id":"x","model_id":', 1), "duplicate_key"),
        "repeated feature": (good.replace(b'"age":', b'"amount":1,"age":', 1), "duplicate_key"),
        "a year ahead": (to_json({**BASE, "timestamp": 4_102_444_800.0}), "timestamp_out_of_range"),
    }
    produce(stack.broker.bootstrap, t["predictions"], [good, *(raw for raw, _ in refused.values()), good])
    wait_for(lambda: sample(worker.metrics(), "stream_monitor_events_consumed_total", model=MODEL, version="v1",
                            kind="prediction") == 2, 60, what="the two good events consumed")
    dead = wait_for(lambda: (r := read_topic(stack.broker.bootstrap, t["dlq"], quiet=1.0)) and len(r) >= len(refused)
                    and r, 30, what="dead letters")
    assert len(dead) == len(refused)
    by_value = {d.value: d.headers["stream-monitor.reason"].decode() for d in dead}
    assert by_value == {raw: reason for raw, reason in refused.values()}
    text = worker.metrics()
    counts = Counter(reason for _, reason in refused.values())
    for reason, n in counts.items():
        assert sample(text, "stream_monitor_dead_letter_total", source="predictions", reason=reason) == n
    for d in dead:
        assert b"0.5" not in d.headers["stream-monitor.message"]
