"""The sidecar's Prometheus metrics, read at scrape time from its counters.

A custom collector reads the forwarder's :class:`~stream_monitor.client.ClientStats`,
the pairer's outcomes and the request counters when Prometheus scrapes, so the
request path sets no metric. Every label value comes from a fixed set (drop
reasons, endpoints, status codes, rejection reasons): no input can add series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stream_monitor.client.buffer import DROP_REASONS, ClientStats

__all__ = ["ENDPOINTS", "REJECT_REASONS", "SidecarCounters", "register_metrics"]

ENDPOINTS: Final = ("events", "kserve", "healthz", "metrics", "other")
REJECT_REASONS: Final = ("missing_attribute", "bad_attribute", "unknown_type", "bad_envelope", "bad_payload",
                         "bad_shape", "unmapped", "row_mismatch", "unknown_service", "invalid")
_P: Final = "stream_monitor_sidecar_"


@dataclass
class SidecarCounters:
    """Counters the request handlers increment (plain integers: the event loop is single-threaded)."""

    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    cloudevents: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    def request(self, endpoint: str, status: int) -> None:
        self.requests[(endpoint if endpoint in ENDPOINTS else "other", status)] += 1

    def reject(self, reason: str) -> None:
        self.rejected[reason if reason in REJECT_REASONS else "invalid"] += 1


class _Collector(Collector):
    def __init__(self, stats: Callable[[], ClientStats], pairing: Callable[[], tuple[dict[str, int], int, int]],
                 counters: SidecarCounters) -> None:
        self._stats = stats
        self._pairing = pairing
        self._counters = counters

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        yield CounterMetricFamily(_P + "events_received", "Events handed to the sidecar (valid or not)", s.sent)
        yield CounterMetricFamily(_P + "events_delivered", "Events the broker acknowledged", s.delivered)
        dropped = CounterMetricFamily(_P + "events_dropped", "Events that will never be delivered, by reason",
                                      labels=["reason"])
        for reason in DROP_REASONS:
            dropped.add_metric([reason], s.dropped_by.get(reason, 0))
        yield dropped
        yield GaugeMetricFamily(_P + "buffer_events", "Events held: queued or not yet acknowledged", s.pending)
        yield GaugeMetricFamily(_P + "buffer_bytes", "Encoded bytes held: queued or not yet acknowledged",
                                s.pending_bytes)
        yield from self._kserve()
        requests = CounterMetricFamily(_P + "http_requests", "HTTP requests by endpoint and status code",
                                       labels=["endpoint", "code"])
        for (endpoint, code), n in sorted(self._counters.requests.items()):
            requests.add_metric([endpoint, str(code)], n)
        yield requests

    def _kserve(self) -> Iterator[Metric]:
        counts, pending, pending_bytes = self._pairing()
        ce = CounterMetricFamily(_P + "kserve_cloudevents", "KServe CloudEvents received, by side",
                                 labels=["side"])
        for side in ("request", "response"):
            ce.add_metric([side], self._counters.cloudevents.get(side, 0))
        yield ce
        rejected = CounterMetricFamily(_P + "kserve_rejected", "KServe CloudEvents refused (400), by reason",
                                       labels=["reason"])
        for reason in REJECT_REASONS:
            rejected.add_metric([reason], self._counters.rejected.get(reason, 0))
        yield rejected
        yield CounterMetricFamily(_P + "kserve_paired", "Requests paired with their response", counts["paired"])
        unpaired = CounterMetricFamily(_P + "kserve_unpaired",
                                       "Requests or responses given up without their counterpart",
                                       labels=["side", "reason"])
        for side in ("request", "response"):
            for reason in ("expired", "evicted"):
                unpaired.add_metric([side, reason], counts[f"{reason}_{side}"])
        yield unpaired
        yield CounterMetricFamily(_P + "kserve_duplicates", "Second CloudEvents of the same id and side, ignored",
                                  counts["duplicate"])
        yield GaugeMetricFamily(_P + "kserve_pending", "Requests or responses waiting for their counterpart",
                                pending)
        yield GaugeMetricFamily(_P + "kserve_pending_bytes", "Payload bytes waiting for their counterpart",
                                pending_bytes)


def register_metrics(registry: CollectorRegistry, stats: Callable[[], ClientStats],
                     pairing: Callable[[], tuple[dict[str, int], int, int]], counters: SidecarCounters) -> None:
    """Register the sidecar's collector on ``registry`` (a fresh one per sidecar; no global state)."""
    registry.register(_Collector(stats, pairing, counters))
