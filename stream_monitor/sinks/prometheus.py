"""Prometheus metrics: one bundle (:class:`MonitorMetrics`) built on an injected registry, counted per
batch; the decisions of both paths are read at scrape time by the collectors it registers
(:mod:`~stream_monitor.sinks.prometheus_state`, :mod:`~stream_monitor.sinks.prometheus_requests`).
The families it counts into (names, help, labels, buckets) are created by its base class
(:mod:`~stream_monitor.sinks.prometheus_families`); here: what is counted when.

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

from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.pipeline.outcome import DeadLetter, Outcome
from stream_monitor.sinks.prometheus_families import RESTORE_RESULTS, MetricFamilies
from stream_monitor.sinks.prometheus_outcomes import OutcomeMetrics
from stream_monitor.sinks.prometheus_requests import RequestCollector
from stream_monitor.sinks.prometheus_state import StateCollector
from stream_monitor.validation import REASON_CODES

__all__ = ["SOURCES", "MonitorMetrics", "observe_many"]

SOURCES: Final = {"prediction": "predictions", "feature": "features", "label": "labels"}
_KINDS: Final = ("prediction", "feature", "label")


class MonitorMetrics(MetricFamilies):
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
        super().__init__(registry, prefix=prefix)
        p = prefix
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
        for result in RESTORE_RESULTS:
            self.state_restores.labels(result)
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
