"""The metric families of :class:`~stream_monitor.sinks.prometheus.MonitorMetrics`: names, help, labels, buckets.

:class:`MetricFamilies` is its base: it creates, on the injected registry, the
counters of what each batch did (events, dead letters, requests, windows,
unknown features, version overflow, replays, seeks, reset logs, state restores), the
histograms of processing lag, serving latency and batch time, the worker's
gauges (last event time, up, ready, build info, consumer and event-loop lag,
state size, broker reachability, a blocked loop) and the feature join's
counters, in that order (the exposition's order). What is counted when, and
the collectors read at scrape time, are in :mod:`stream_monitor.sinks.prometheus`.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stream_monitor import __version__

__all__ = ["BATCH_BUCKETS", "LAG_BUCKETS", "LATENCY_BUCKETS", "RESTORE_RESULTS", "MetricFamilies"]

# Up to 7 days: a replayed or backfilled topic is processed days after its events' time.
LAG_BUCKETS: Final = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 3 * 86400, 7 * 86400,
)
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BATCH_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
# What reading a partition's state from the state table came to (stream_monitor_state_restores_total).
RESTORE_RESULTS: Final = ("restored", "reset", "unreadable")


class MetricFamilies:
    """The metrics the worker counts into, created on ``registry`` with names under ``prefix``."""

    def __init__(self, registry: CollectorRegistry, *, prefix: str) -> None:
        self._event_counters(prefix, registry)
        self._histograms(prefix, registry)
        self._worker_gauges(prefix, registry)
        self._feature_join_counters(prefix, registry)

    def _event_counters(self, p: str, r: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            f"{p}_events_consumed", "Events accepted, by model, version and kind.", ["model", "version", "kind"],
            registry=r,
        )
        self.dead_letter = Counter(
            f"{p}_dead_letter", "Records or batch events sent to the dead-letter topic.", ["source", "reason"],
            registry=r,
        )
        self.retrain_requests = Counter(
            f"{p}_retrain_requests", "Retrain requests published.", ["model", "version", "severity"], registry=r
        )
        self.windows_closed = Counter(f"{p}_windows_closed", "Windows evaluated.", ["model", "version"], registry=r)
        self.unknown_features = Counter(
            f"{p}_unknown_features", "Feature values under names that are not configured (ignored).", ["model"],
            registry=r,
        )
        self.version_overflow = Counter(
            f"{p}_version_overflow",
            "Events whose model_version is not configured, not learned (allow-list full) or not well formed: "
            "counted under version \"other\" and not monitored.",
            ["model", "kind"], registry=r,
        )
        self.replays_skipped = Counter(
            f"{p}_replayed_records_skipped", "Records skipped because their effect was already in the state.",
            registry=r,
        )
        self.gap_seeks = Counter(
            f"{p}_gap_seeks", "Seeks back to re-read records the consumer skipped.", ["source"], registry=r
        )
        self.offset_regressions = Counter(
            f"{p}_offset_regressions", "Source logs found reset (ending before the applied position); "
            "reprocessed from their start.", ["source"], registry=r
        )
        self.state_restores = Counter(
            f"{p}_state_restores", "Partition states read from the state table: restored; reset (restored, "
            "but models whose configuration changed start fresh); unreadable (the partition starts fresh).",
            ["result"], registry=r,
        )

    def _histograms(self, p: str, r: CollectorRegistry) -> None:
        self.processing_lag = Histogram(
            f"{p}_processing_lag_seconds", "Processing time minus event time.", ["model"], buckets=LAG_BUCKETS,
            registry=r,
        )
        self.serving_latency = Histogram(
            f"{p}_serving_latency_seconds",
            "Serving latency reported by events (latency_ms).",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            f"{p}_batch_processing_seconds", "Time to process one consumed batch.", buckets=BATCH_BUCKETS, registry=r
        )

    def _worker_gauges(self, p: str, r: CollectorRegistry) -> None:
        self.last_event = Gauge(
            f"{p}_last_event_timestamp_seconds",
            "Unix time at which the last event of this model version was processed.",
            ["model", "version"],
            registry=r,
        )
        self.up = Gauge(f"{p}_worker_up", "1 while the worker process runs.", registry=r)
        self.ready = Gauge(f"{p}_worker_ready", "1 once partitions are assigned and state is recovered.", registry=r)
        self.build_info = Gauge(f"{p}_build_info", "Build information.", ["version"], registry=r)
        self.build_info.labels(__version__).set(1)
        self.consumer_lag = Gauge(
            f"{p}_consumer_lag", "Records behind the partition's high watermark.", ["topic", "partition"], registry=r
        )
        self.event_loop_lag = Gauge(
            f"{p}_event_loop_lag_seconds", "How late the event loop ran a periodic check.", registry=r
        )
        self.state_bytes = Gauge(f"{p}_state_bytes", "Size of the last persisted state snapshots.", registry=r)
        self.broker_reachable = Gauge(
            f"{p}_broker_reachable", "1 if a bootstrap server accepted a TCP connection at the last probe.", registry=r
        )
        self.loop_blocked = Counter(
            f"{p}_event_loop_blocked", "Episodes in which the event loop stopped turning.", registry=r
        )

    def _feature_join_counters(self, p: str, r: CollectorRegistry) -> None:
        join_labels = ["model", "version", "reason"]
        self.features_expired = Counter(
            f"{p}_feature_join_expired", "Predictions whose feature event never joined, by reason (ttl, capacity).",
            join_labels, registry=r
        )
        self.features_orphaned = Counter(
            f"{p}_feature_join_orphaned", "Feature events whose prediction never came, by reason (ttl, capacity).",
            join_labels, registry=r
        )
