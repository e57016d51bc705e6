"""The sidecar client: serving apps log predictions, features and labels in one line.

:class:`MonitorClient` never raises into the serving path and, by default, never
blocks it. Each ``log_*`` call validates and encodes the event with the event
contract's own models (:mod:`stream_monitor.events`) and appends it to a
bounded buffer (events and bytes); a background thread packs queued events into
batch envelopes (``{"kind":"batch","events":[...]}``, many events per Kafka
message) and hands them to an aiokafka producer. An event leaves the buffer's
budget only when the broker acknowledges it or it is counted as dropped, so the
client's memory stays bounded through a broker outage; with ``block=True`` a
full buffer makes callers wait (up to a timeout) instead of dropping.

Every event is counted once: ``stats.sent == stats.delivered + stats.dropped +
stats.pending``, with drops split by reason (``invalid``, ``too_large``,
``buffer_full``, ``timeout``, ``broker_error``, ``closed``). :meth:`MonitorClient.close`
returns within its timeout (5 s by default).

Logged messages name counts, field names and error classes only, never an event's values.

Examples
--------
>>> client = MonitorClient("kafka:9092", "fraud-detector", "v3")  # doctest: +SKIP
>>> @client.monitor(features_from="features", score_from=lambda r: r["score"])  # doctest: +SKIP
... def predict(features: dict) -> dict:
...     return {"score": model.score(features)}
>>> with client.prediction({"amount": 12.5}) as p:  # doctest: +SKIP
...     p.score = model.score(...)
...     p.prediction = p.score >= 0.5
>>> client.log_label(p.event_id, True)  # doctest: +SKIP
>>> client.close()  # doctest: +SKIP
>>> client.stats.delivered + client.stats.dropped == client.stats.sent  # doctest: +SKIP
True
"""

from stream_monitor.client.buffer import DROP_REASONS, ClientStats, DropReason
from stream_monitor.client.monitor_client import MonitorClient, PendingPrediction

__all__ = ["DROP_REASONS", "ClientStats", "DropReason", "MonitorClient", "PendingPrediction"]
