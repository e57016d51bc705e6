"""Prometheus metrics: one bundle (:class:`MonitorMetrics`) built on an injected registry, counted per
batch; the decisions of both paths are read at scrape time by the collectors it registers
(:mod:`~stream_monitor.sinks.prometheus_state`, :mod:`~stream_monitor.sinks.prometheus_requests`).

Labels come only from configuration or bounded allow-lists: model ids
(configured), versions (configured, or learned by the monitor: at most
``max_versions`` per model, well formed, anything else is ``other``; retired
ones have their series removed), feature names, detector names, reason codes and
topic kinds. No raw input value ever becomes a label.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from typing import Final

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stream_monitor import __version__
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.pipeline.outcome import DeadLetter, Outcome
from stream_monitor.sinks.prometheus_outcomes import OutcomeMetrics
from stream_monitor.sinks.prometheus_requests import RequestCollector
from stream_monitor.sinks.prometheus_state import StateCollector
from stream_monitor.validation import REASON_CODES

__all__ = ["SOURCES", "MonitorMetrics", "observe_many"]

SOURCES: Final = {"prediction": "predictions", "feature": "features", "label": "labels"}
_KINDS: Final = ("prediction", "feature", "label")
# Up to 7 days: a replayed or backfilled topic is processed days after its events' time.
LAG_BUCKETS: Final = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 3 * 86400, 7 * 86400,
)
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BATCH_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)


class MonitorMetrics:
    """Every metric stream-monitor exports.

    Parameters
    ----------
    registry
        Where to register; each test passes a fresh one.
    monitors
        Returns the live monitors at scrape time.
    prefix
        Metric name prefix.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        monitors: Callable[[], Iterable[Monitor]],
        *,
        prefix: str = "stream_monitor",
    ) -> None:
        p = prefix
        r = registry
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
        join_labels = ["model", "version", "reason"]
        self.features_expired = Counter(
            f"{p}_feature_join_expired", "Predictions whose feature event never joined, by reason (ttl, capacity).",
            join_labels, registry=r
        )
        self.features_orphaned = Counter(
            f"{p}_feature_join_orphaned", "Feature events whose prediction never came, by reason (ttl, capacity).",
            join_labels, registry=r
        )
        self._evaluated_at: dict[tuple[str, str], float] = {}
        registry.register(StateCollector(p, monitors, self._evaluated_at))
        registry.register(RequestCollector(p, monitors))
        self._initialised: set[tuple[str, str]] = set()
        self._monitors = monitors
        for source in SOURCES.values():  # closed label sets: every series exists from the start, at 0
            self.gap_seeks.labels(source)
            self.offset_regressions.labels(source)
            for reason in REASON_CODES:
                self.dead_letter.labels(source, reason)
        self.outcomes = OutcomeMetrics(registry, prefix=p)  # the label path's counters

    def initialise(self, model: str, version: str) -> None:
        """Create the counters of a model version at 0, so that rates and increases
        have a series before the first increment (called on first sight of it)."""
        if (model, version) in self._initialised:
            return
        views = [mon.view(models=(model,)) for mon in self._monitors()]
        monitored = [v for v in views if (m := v.model(model)) is not None and m.version(version) is not None]
        if not monitored:  # "other"/"unknown": counted where they occur, not multiplied out
            return
        self._initialised.add((model, version))
        for kind in _KINDS:
            self.events_consumed.labels(model, version, kind)
        for severity in ("warning", "critical"):
            self.retrain_requests.labels(model, version, severity)
        self.windows_closed.labels(model, version)
        self.unknown_features.labels(model)
        for reason in ("ttl", "capacity"):
            self.features_expired.labels(model, version, reason)
            self.features_orphaned.labels(model, version, reason)
        if any(v.label_path(model) is not None for v in monitored):
            self.outcomes.initialise(model, version)

    def observe(self, outcome: Outcome, now: float) -> None:
        """Count what one batch did (called once per batch, not per event)."""
        for model, version in {*outcome.last_event, *((m, v) for m, v, _ in outcome.consumed)}:
            self.initialise(model, version)
        for (model, version, kind), n in outcome.consumed.items():
            self.events_consumed.labels(model, version, kind).inc(n)
        for (model, kind), n in outcome.overflow.items():
            self.version_overflow.labels(model, kind).inc(n)
        for model, lags in outcome.lags.items():
            observe_many(self.processing_lag.labels(model), lags)
        for (model, version), latencies in outcome.latencies.items():
            observe_many(self.serving_latency.labels(model, version), latencies)
        for model, n in outcome.unknown_features.items():
            self.unknown_features.labels(model).inc(n)
        for model, version in outcome.last_event:
            self.last_event.labels(model, version).set(now)
        for report in outcome.reports:
            self.windows_closed.labels(report.model_id, report.model_version).inc()
            self._evaluated_at[(report.model_id, report.model_version)] = now
        if outcome.duplicates:
            self.replays_skipped.inc(outcome.duplicates)
        if outcome.outcomes:
            self.outcomes.observe(outcome)
        for model, join in outcome.feature_join.items():
            for (version, reason), n in join.expired.items():
                self.features_expired.labels(model, version, reason).inc(n)
            for (version, reason), n in join.orphaned.items():
                self.features_orphaned.labels(model, version, reason).inc(n)
        for model, version in outcome.retired:
            self.retire(model, version)

    def dead_lettered(self, dl: DeadLetter) -> None:
        """Count one dead letter, once the broker acknowledged it (not in :meth:`observe`)."""
        self.dead_letter.labels(SOURCES[dl.record.kind], dl.reason).inc()

    def published(self, model: str, version: str, severity: str) -> None:
        self.retrain_requests.labels(model, version, severity).inc()

    def retire(self, model: str, version: str) -> None:
        """Drop every series of a retired model version."""
        for kind in _KINDS:
            _remove(self.events_consumed, model, version, kind)
        for severity in ("warning", "critical"):
            _remove(self.retrain_requests, model, version, severity)
        for metric in (self.windows_closed, self.serving_latency, self.last_event):
            _remove(metric, model, version)
        for reason in ("ttl", "capacity"):
            _remove(self.features_expired, model, version, reason)
            _remove(self.features_orphaned, model, version, reason)
        self._evaluated_at.pop((model, version), None)
        self._initialised.discard((model, version))
        self.outcomes.retire(model, version)


def observe_many(hist: Histogram, values: Sequence[float]) -> None:
    """``hist.observe(v)`` for every value, with one bucket increment per bucket.

    prometheus_client has no bulk observe, and one call per event cost ~3 us in the
    worker's profile. Same result as observing one by one: a value counts in the
    first bucket whose upper bound is at least it (NaN in none), and the sum is
    accumulated left to right from its current value.
    """
    if not values:
        return
    bounds = hist._upper_bounds  # noqa: SLF001 - a child of a labelled histogram
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds) + 1)
    buckets = hist._buckets  # noqa: SLF001
    for i in np.flatnonzero(counts[: len(bounds)]).tolist():
        buckets[i].inc(int(counts[i]))
    hist._sum.set(reduce(operator.add, values, hist._sum.get()))  # noqa: SLF001


def _remove(metric: Counter | Gauge | Histogram, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)
