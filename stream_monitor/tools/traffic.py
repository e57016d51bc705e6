"""Produce encoded events to a topic, and the demo's traffic.

The producer (the simulator's and the demo's) uses kafka-python's producer,
which works against any Kafka-protocol broker. With ``batch > 1`` events travel
in batch envelopes, many per Kafka message.

The demo's traffic is drifting predictions, their delayed labels and a few
malformed records. The stream is stamped from the current time on at the rate
it is produced, so that the processing lag is the worker's; ground-truth labels
follow for a share of the predictions, each a little later, as production
labels do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from stream_monitor.events.envelope import encode_rows
from stream_monitor.tools.simulate import Scenario, generate, to_json
from stream_monitor.tools.simulate_labels import demo_truth, label_events

__all__ = ["DEMO_CHANGE_AT", "DEMO_EVENTS", "DEMO_RATE", "LABEL_DELAY_SECONDS", "LABEL_SHARE", "demo_labels",
           "demo_predictions", "demo_scenario", "envelope", "malformed", "produce", "send_traffic"]

DEMO_RATE = 2000.0  # events per second, produced and stamped
DEMO_EVENTS, DEMO_CHANGE_AT = 12_000, 6_000  # predictions, and the first drifted one
# A share of the predictions gets its ground truth (e.g. the transactions whose outcome is
# confirmed), later than the prediction: production's minutes to days, compressed to seconds.
LABEL_SHARE = 0.3
LABEL_DELAY_SECONDS = (0.5, 2.0)


def envelope(raw_events: Iterable[bytes]) -> bytes:
    """Wrap already-encoded events in a batch envelope without re-encoding them."""
    return encode_rows(list(raw_events))


def _chunks(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[bytes],
    *,
    key: bytes | None = None,
    rate: float = 0.0,
    batch: int = 1,
    linger_ms: int = 5,
) -> int:
    """Send events; return how many. ``rate`` caps events per second (0: no cap)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms, max_request_size=4 * 1024 * 1024
    )
    sent = 0
    started = time.monotonic()
    try:
        for chunk in _chunks(events, max(batch, 1)):
            value = chunk[0] if batch <= 1 else envelope(chunk)
            producer.send(topic, key=key, value=value)
            sent += len(chunk)
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    return sent


def demo_scenario(change_at: int, now: float) -> Scenario:
    """The demo stream, stamped from ``now`` on at the rate it is produced: the processing
    lag (and the ProcessingLagHigh alert) then measures the worker, not the age of a fixed date."""
    return Scenario(kind="abrupt", change_at=change_at, seed=11, start_time=now, events_per_second=DEMO_RATE)


def demo_predictions(events: int, change_at: int, now: float, start: int = 0) -> list[dict[str, Any]]:
    """Prediction events ``start`` to ``events - 1`` of the demo stream, the first stamped ``now``."""
    return list(generate(demo_scenario(change_at, now - start / DEMO_RATE), events - start, start=start))


def demo_labels(predictions: list[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """Label events for ``LABEL_SHARE`` of ``predictions`` (drawn from their calibrated
    scores), each ``LABEL_DELAY_SECONDS`` after its prediction, in the order they come."""
    truth = demo_truth(predictions, seed)
    return label_events(predictions, truth, coverage=LABEL_SHARE, delay_seconds=LABEL_DELAY_SECONDS,
                        shuffle=False, seed=seed)


def _when_due(labels: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for label in labels:
        wait = label["timestamp"] - time.time()
        if wait > 0:
            time.sleep(wait)
        yield to_json(label)


def send_traffic(bootstrap: str, predictions_topic: str, labels_topic: str, predictions: list[dict[str, Any]],
                 labels: list[dict[str, Any]]) -> None:
    """Produce ``predictions`` at ``DEMO_RATE`` and each label at its own timestamp; return when all are sent."""
    key = predictions[0]["model_id"].encode() if predictions else None
    sender = threading.Thread(target=produce, args=(bootstrap, labels_topic, _when_due(labels)),
                              kwargs={"key": key}, daemon=True)
    sender.start()
    produce(bootstrap, predictions_topic, (to_json(e) for e in predictions), key=key, rate=DEMO_RATE)
    sender.join()


def malformed(now: float) -> list[bytes]:
    """Records the worker must dead-letter, each for its own reason (stamped ``now``, so that
    none is refused for its timestamp instead)."""
    ts = int(now)
    return [
        b"{not json",
        b'{"event_id": "x1", "model_id": "fraud-detector"}',
        b'{"event_id":"x2","model_id":"fraud-detector","model_version":"v1","timestamp":%d,'
        b'"features":{"amount":NaN},"prediction":0}' % ts,
        b'{"event_id":"x3","model_id":"no-such-model","model_version":"v1","timestamp":%d,"prediction":1}' % ts,
    ]
