"""Prometheus metrics of the label path: join counters at batch time, the rest at scrape time.

Counted per batch (from :attr:`Outcome.outcomes`, :class:`OutcomeMetrics`): label
delay, joined, expired (``reason`` ttl), sampled out of a full join buffer (apart
from expired: the joined pairs stay a uniform sample), orphaned and duplicate
labels. Read at scrape time from the monitors' frozen views (:class:`LabelGauges`, filled
by the one state collector of :mod:`stream_monitor.sinks.prometheus` in the same
pass as the drift gauges, from the same window reports): the join buffer's keep
probability, TTL and estimated memory, the last closed windows' performance (and
its reference and drop), label coverage, fairness metrics with their breach
flag and sample size, group shares, the label-free estimate with its bounds and
the champion/challenger differences. Every label value comes from config:
versions (bounded by ``max_versions``), attributes and declared groups (others
are ``other``), and the closed sets of metric names.
"""

from __future__ import annotations

import contextlib
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from stream_monitor.pipeline.outcome import Outcome
from stream_monitor.pipeline.view import LabelVersionView, MonitorView

__all__ = ["DELAY_BUCKETS", "LabelGauges", "OutcomeMetrics"]

DELAY_BUCKETS: Final = (1, 10, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)
_REASONS: Final = ("ttl",)


class OutcomeMetrics:
    """The label-path metrics on an injected registry (built by ``MonitorMetrics``)."""

    def __init__(self, registry: CollectorRegistry, *, prefix: str) -> None:
        p, r = prefix, registry
        mv = ["model", "version"]
        self.delay = Histogram(f"{p}_label_delay_seconds", "Label event time minus prediction event time, per join.",
                               mv, buckets=DELAY_BUCKETS, registry=r)
        self.joined = Counter(f"{p}_labels_joined", "Labels joined to a prediction.", mv, registry=r)
        self.expired = Counter(f"{p}_labels_expired", "Predictions that left the join buffer without a label.",
                               [*mv, "reason"], registry=r)
        self.orphaned = Counter(f"{p}_labels_orphaned", "Labels that left the join buffer without a prediction.",
                                ["model", "reason"], registry=r)
        self.sampled = Counter(f"{p}_labels_sampled_out",
                               "Predictions not kept for joining because the join buffer was at its memory cap "
                               "(uniform sampling; see the keep probability).", mv, registry=r)
        self.duplicates = Counter(f"{p}_labels_duplicate", "Duplicate labels or predictions ignored by the join.",
                                  ["model"], registry=r)

    def observe(self, outcome: Outcome) -> None:
        for model, batch in outcome.outcomes.items():
            for version, delays in batch.delays.items():
                hist = self.delay.labels(model, version)
                for d in delays:
                    hist.observe(max(d, 0.0))
                self.joined.labels(model, version).inc(len(delays))
            for (version, reason), n in batch.expired.items():
                self.expired.labels(model, version, reason).inc(n)
            for version, n in batch.sampled.items():
                self.sampled.labels(model, version).inc(n)
            for reason, n in batch.orphaned.items():
                self.orphaned.labels(model, reason).inc(n)
            if batch.duplicates:
                self.duplicates.labels(model).inc(batch.duplicates)

    def initialise(self, model: str, version: str) -> None:
        """The counters of a labelled model version at 0 (before their first increment)."""
        self.delay.labels(model, version)
        self.joined.labels(model, version)
        self.sampled.labels(model, version)
        for reason in _REASONS:
            self.expired.labels(model, version, reason)
            self.orphaned.labels(model, reason)
        self.duplicates.labels(model)

    def retire(self, model: str, version: str) -> None:
        for metric, labels in ((self.delay, (model, version)), (self.joined, (model, version)),
                               (self.sampled, (model, version)),
                               *((self.expired, (model, version, r)) for r in _REASONS)):
            with contextlib.suppress(KeyError):
                metric.remove(*labels)


class LabelGauges:
    """The label path's scrape-time gauge families and how one monitor fills them."""

    def __init__(self, prefix: str) -> None:
        self.p = prefix

    def families(self) -> tuple[GaugeMetricFamily, ...]:
        p = self.p
        mvm = ["model", "version", "metric"]
        fair = ["model", "version", "attribute", "metric"]
        return (
            GaugeMetricFamily(f"{p}_label_join_keep_probability",
                              "Share of predictions the join buffer keeps (1 until its memory cap is reached).",
                              labels=["model"]),
            GaugeMetricFamily(f"{p}_label_join_ttl_seconds",
                              "How long a prediction waits for its label (from the observed delay).", labels=["model"]),
            GaugeMetricFamily(f"{p}_label_join_pending_bytes", "Estimated memory of the waiting predictions.",
                              labels=["model"]),
            GaugeMetricFamily(f"{p}_performance_metric", "Performance of the last closed window of joined pairs.",
                              labels=mvm),
            GaugeMetricFamily(f"{p}_performance_reference", "Reference performance the windows are compared to.",
                              labels=mvm),
            GaugeMetricFamily(f"{p}_performance_drop", "Reference minus window performance (positive: worse).",
                              labels=mvm),
            GaugeMetricFamily(f"{p}_performance_breach",
                              "1 if the last closed window's metric is worse than its reference by more than "
                              "the configured tolerance.", labels=mvm),
            GaugeMetricFamily(f"{p}_performance_estimate",
                              "Label-free performance estimate of the last prediction window, with 95% bounds.",
                              labels=[*mvm, "bound"]),
            GaugeMetricFamily(f"{p}_label_coverage_ratio", "Share of predictions that have been labelled.",
                              labels=["model", "version"]),
            GaugeMetricFamily(f"{p}_fairness_metric", "Fairness metric of the last closed window.", labels=fair),
            GaugeMetricFamily(f"{p}_fairness_breach", "1 if the fairness metric breached its threshold.", labels=fair),
            GaugeMetricFamily(f"{p}_fairness_sample_size", "Smallest group behind the fairness metric.", labels=fair),
            GaugeMetricFamily(f"{p}_group_share", "Share of each group in the last prediction window.",
                              labels=["model", "version", "attribute", "group"]),
            GaugeMetricFamily(f"{p}_version_difference",
                              "This version minus the baseline version, on their last closed windows.",
                              labels=["model", "version", "baseline", "metric"]),
        )

    def fill(self, families: tuple[GaugeMetricFamily, ...], view: MonitorView) -> None:
        """Add the samples of a monitor's label paths (its ``view``) to ``families`` (from :meth:`families`)."""
        keep, ttl, pending = families[:3]
        for om in view.labels:
            model = om.model
            if om.join is not None:
                keep.add_metric([model], om.join.keep_probability)
                ttl.add_metric([model], om.join.ttl_seconds)
                pending.add_metric([model], om.join.pending_bytes)
            for vs in om.versions:
                _version_samples(families, [model, vs.version], vs, om.labelled)


def _version_samples(families: tuple[GaugeMetricFamily, ...], mv: list[str], vs: LabelVersionView,
                     labelled: bool) -> None:
    """One version's label-path samples."""
    perf, ref, drop, breach, est, cov, fm, fb, fn, share, diff = families[3:]
    if vs.coverage is not None and labelled:
        cov.add_metric(mv, vs.coverage)
    for name, x in vs.metrics.items():
        perf.add_metric([*mv, name], x)
    for name, x in vs.reference.items():
        ref.add_metric([*mv, name], x)
    for name, x in vs.drops.items():
        drop.add_metric([*mv, name], x)
    for name, (value, lo, hi) in vs.estimates.items():
        for bound, x in (("estimate", value), ("lower", lo), ("upper", hi)):
            est.add_metric([*mv, name, bound], x)
    for rep in (vs.last_preds, vs.last_pairs):
        for rd in rep.readings if rep is not None else ():
            if rd.kind == "performance" and rep is vs.last_pairs:
                breach.add_metric([*mv, rd.statistic], 1.0 if rd.drift else 0.0)
            if rd.kind == "fairness" and rd.attribute is not None:
                fl = [*mv, rd.attribute, rd.statistic]
                fm.add_metric(fl, rd.value)
                fb.add_metric(fl, 1.0 if rd.drift else 0.0)
                fn.add_metric(fl, rd.n)
    for attr, groups in vs.group_shares.items():
        for group, x in groups.items():
            share.add_metric([*mv, attr, group], x)
    for (baseline, metric), x in vs.differences.items():
        diff.add_metric([*mv, baseline, metric], x)
