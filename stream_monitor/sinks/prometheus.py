"""Prometheus metrics: one bundle built on an injected registry, plus one collector
that reads the decisions of both paths at scrape time (the hot path sets no gauges
for them): drift state and the last window's readings of the drift path, and the
label path's gauges (:class:`~stream_monitor.sinks.prometheus_outcomes.LabelGauges`)
from the same monitors in the same pass.

Labels come only from configuration or bounded allow-lists: model ids
(configured), versions (configured, or learned by the monitor: at most
``max_versions`` per model, well formed, anything else is ``other``; retired
ones have their series removed), feature names, detector names, reason codes and
topic kinds. No raw input value ever becomes a label.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import reduce
from typing import Final

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.registry import Collector

from stream_monitor import __version__
from stream_monitor.detectors.base import DetectorState
from stream_monitor.pipeline.monitor import DeadLetter, Monitor, Outcome
from stream_monitor.sinks.prometheus_outcomes import LabelGauges, OutcomeMetrics
from stream_monitor.sinks.prometheus_requests import RequestCollector
from stream_monitor.validation import REASON_CODES

__all__ = ["SOURCES", "MonitorMetrics", "observe_many"]

SOURCES: Final = {"prediction": "predictions", "feature": "features", "label": "labels"}
_KINDS: Final = ("prediction", "feature", "label")
_SEVERITY: Final = {DetectorState.OK: 0, DetectorState.WARNING: 1, DetectorState.DRIFT: 2}
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
        registry.register(_StateCollector(p, monitors, self._evaluated_at))
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
        monitored = [mon for mon in self._monitors() if version in getattr(mon.models.get(model), "versions", ())]
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
        if any(model in mon.outcomes for mon in monitored):
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


class _StateCollector(Collector):
    """Reads the decisions of every live model version, drift and label path: state and
    the last window reports."""

    def __init__(
        self, prefix: str, monitors: Callable[[], Iterable[Monitor]], evaluated_at: dict[tuple[str, str], float]
    ) -> None:
        self.p = prefix
        self.monitors = monitors
        self.evaluated_at = evaluated_at
        self.labels = LabelGauges(prefix)

    def describe(self) -> Iterable[Metric]:
        # The families without samples: registers their names, so that a scrape
        # restricted with ``name[]`` skips this collector unless it asks for one.
        state, gauges = self._families()
        return [state, *gauges, *self.labels.families()]

    def _families(self) -> tuple[StateSetMetricFamily, tuple[GaugeMetricFamily, ...]]:
        p = self.p
        mv, feat = ["model", "version"], ["model", "version", "feature", "detector"]
        q = ["model", "version", "feature"]
        state = StateSetMetricFamily(f"{p}_model_drift_state", "Drift state of the model version.", labels=mv)
        return state, (
            GaugeMetricFamily(f"{p}_drift_statistic", "Drift statistic of the last closed window.", labels=feat),
            GaugeMetricFamily(f"{p}_drift_threshold", "Decision threshold: distance tests compare the statistic "
                              "to it; p-value tests compare the p-value to it (the corrected alpha).", labels=feat),
            GaugeMetricFamily(f"{p}_drift_p_value", "p-value of the last closed window (p-value tests).", labels=feat),
            GaugeMetricFamily(f"{p}_feature_drift", "1 if the test fired on the last closed window.", labels=feat),
            GaugeMetricFamily(f"{p}_model_drift_severity", "0 ok, 1 warning, 2 drift.", labels=mv),
            GaugeMetricFamily(f"{p}_window_events", "Prediction events in the open window.", labels=mv),
            GaugeMetricFamily(f"{p}_last_window_events", "Prediction events in the last closed window.", labels=mv),
            GaugeMetricFamily(f"{p}_last_evaluation_timestamp_seconds", "Unix time the last window was evaluated.",
                              labels=mv),
            GaugeMetricFamily(f"{p}_missing_ratio", "Share of missing values in the last window.", labels=q),
            GaugeMetricFamily(f"{p}_out_of_range_ratio", "Share of numeric values outside the reference range.",
                              labels=q),
            GaugeMetricFamily(f"{p}_unseen_category_ratio", "Share of categories not in the reference.", labels=q),
        )

    def collect(self) -> Iterator[Metric]:
        state, gauges = self._families()
        stat, thr, pval, flag, severity, open_n, last_n, evaluated, missing, oor, unseen = gauges
        label_families = self.labels.families()
        for mon in self.monitors():
            self.labels.fill(label_families, mon)
            for model_id, mm in mon.models.items():
                for version, vs in mm.versions.items():
                    labels = [model_id, version]
                    state.add_metric(labels, {s.value: s is vs.policy.state for s in DetectorState})
                    severity.add_metric(labels, _SEVERITY[vs.policy.state])
                    open_n.add_metric(labels, vs.window.n if vs.window is not None else 0)
                    if (model_id, version) in self.evaluated_at:
                        evaluated.add_metric(labels, self.evaluated_at[(model_id, version)])
                    rep = vs.last_report
                    if rep is None:
                        continue
                    last_n.add_metric(labels, rep.window.events)
                    for rd in rep.readings:
                        fl = [model_id, version, rd.feature, rd.detector]
                        stat.add_metric(fl, rd.value)
                        thr.add_metric(fl, rd.threshold)
                        flag.add_metric(fl, 1.0 if rd.drift else 0.0)
                        if rd.p_value is not None:
                            pval.add_metric(fl, rd.p_value)
                    for qu in rep.quality:
                        ql = [model_id, version, qu.feature]
                        missing.add_metric(ql, qu.missing_rate)
                        if qu.out_of_range_rate is not None:
                            oor.add_metric(ql, qu.out_of_range_rate)
                        if qu.unseen_rate is not None:
                            unseen.add_metric(ql, qu.unseen_rate)
        yield from (stat, thr, pval, flag, state, severity, open_n, last_n, evaluated, missing, oor, unseen)
        yield from label_families
