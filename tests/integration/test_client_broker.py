"""The sidecar client against the embedded broker: what it sends is what the worker decodes."""

from __future__ import annotations

import os
import time

import pytest

from stream_monitor.broker import EmbeddedBroker, create_topics
from stream_monitor.client import MonitorClient
from stream_monitor.simulate import Scenario, generate
from stream_monitor.validation import decode
from stream_monitor.validation.decode import Rejection

from .kafka_helpers import read_topic

pytestmark = pytest.mark.integration


def test_client_batches_reach_the_broker_and_decode(broker: EmbeddedBroker) -> None:
    name = f"client{os.getpid()}-{int(time.time()) % 100000}"
    topics = {k: f"{name}-{k}" for k in ("predictions", "features", "labels")}
    create_topics(broker.bootstrap, list(topics.values()), 2)
    client = MonitorClient(broker.bootstrap, "fraud-detector", "v1", batch_size=100,
                           predictions_topic=topics["predictions"], features_topic=topics["features"],
                           labels_topic=topics["labels"])
    events = list(generate(Scenario(seed=5), 1200))
    for e in events:
        client.log_prediction(e["prediction"], features=e["features"], score=e["score"], event_id=e["event_id"],
                              timestamp=e["timestamp"], latency_ms=e["latency_ms"], attributes=e["attributes"])
    with client.prediction({"amount": 10.0, "country": "DE"}) as p:
        p.score = 0.25
    client.log_features(p.event_id, {"age": 40.0})
    client.log_label(p.event_id, False)
    assert client.flush(30)
    client.close()
    stats = client.stats
    assert (stats.sent, stats.dropped, stats.failed, stats.invalid) == (1203, 0, 0, 0)

    records = read_topic(broker.bootstrap, topics["predictions"], quiet=1.5)
    assert len(records) < 100, "events must travel many per Kafka message"
    assert {r.key for r in records} == {b"fraud-detector"}
    decoded = [e for r in records for e in decode(r.value, "prediction", max_bytes=1 << 20)]
    assert not [e for e in decoded if isinstance(e, Rejection)]
    by_id = {e.event_id: e for e in decoded}
    assert len(decoded) == len(by_id) == 1201
    for e in events[::97]:
        got = by_id[e["event_id"]]
        assert got.features == e["features"] and got.score == e["score"] and got.latency_ms == e["latency_ms"]
    assert by_id[p.event_id].score == 0.25

    (feat,) = [e for r in read_topic(broker.bootstrap, topics["features"], quiet=1.0)
               for e in decode(r.value, "feature", max_bytes=1 << 20)]
    (label,) = [e for r in read_topic(broker.bootstrap, topics["labels"], quiet=1.0)
                for e in decode(r.value, "label", max_bytes=1 << 20)]
    assert feat.event_id == label.event_id == p.event_id and label.label is False
