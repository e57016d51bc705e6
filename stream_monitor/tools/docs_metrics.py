"""The metrics reference, generated from the exporter's registry.

A drifted stream (with a malformed record, an unknown feature and serving latencies) goes
through a real monitor into a :class:`~stream_monitor.sinks.prometheus.MonitorMetrics` on a
fresh registry, so that every metric, including the scrape-time ones, has samples to read
the labels from. Type and HELP text come from the registry; the unit comes from the name
(base units, Prometheus naming) or from ``UNITS``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

__all__ = ["UNITS", "Row", "exposed_metrics", "metrics_reference", "parse_table"]

# Units that the name's suffix does not say.
UNITS = {
    "stream_monitor_events_consumed_total": "events",
    "stream_monitor_dead_letter_total": "records (batch events count one each)",
    "stream_monitor_retrain_requests_total": "requests",
    "stream_monitor_windows_closed_total": "windows",
    "stream_monitor_unknown_features_total": "feature values",
    "stream_monitor_version_overflow_total": "events",
    "stream_monitor_replayed_records_skipped_total": "records",
    "stream_monitor_gap_seeks_total": "seeks",
    "stream_monitor_offset_regressions_total": "log resets",
    "stream_monitor_state_restores_total": "partition states",
    "stream_monitor_consumer_lag": "records",
    "stream_monitor_window_events": "events",
    "stream_monitor_last_window_events": "events",
    "stream_monitor_model_drift_severity": "0 ok, 1 warning, 2 drift",
    "stream_monitor_feature_drift": "0 or 1",
    "stream_monitor_retrain_request_info": "always 1 (present while the incident is open)",
    "stream_monitor_retrain_request_feature": "always 1 (present while the incident is open)",
    "stream_monitor_drift_statistic": "the detector's statistic",
    "stream_monitor_drift_threshold": "as the statistic (p-value tests: the corrected alpha)",
    "stream_monitor_drift_p_value": "probability",
    "stream_monitor_worker_up": "0 or 1",
    "stream_monitor_worker_ready": "0 or 1",
    "stream_monitor_build_info": "always 1",
    "stream_monitor_broker_reachable": "0 or 1",
    "stream_monitor_event_loop_blocked_total": "episodes",
    "stream_monitor_labels_joined_total": "labels",
    "stream_monitor_labels_duplicate_total": "events",
    "stream_monitor_labels_expired_total": "predictions",
    "stream_monitor_labels_orphaned_total": "labels",
    "stream_monitor_labels_sampled_out_total": "predictions",
    "stream_monitor_label_join_keep_probability": "probability",
    "stream_monitor_feature_join_expired_total": "predictions",
    "stream_monitor_feature_join_orphaned_total": "feature events",
    "stream_monitor_performance_metric": "as the metric (accuracy: ratio, mae: target unit, ...)",
    "stream_monitor_performance_reference": "as the metric",
    "stream_monitor_performance_drop": "as the metric",
    "stream_monitor_performance_breach": "0 or 1",
    "stream_monitor_performance_estimate": "as the metric",
    "stream_monitor_version_difference": "as the metric",
    "stream_monitor_fairness_metric": "difference or ratio, per the metric",
    "stream_monitor_fairness_breach": "0 or 1",
    "stream_monitor_fairness_sample_size": "events",
    "stream_monitor_group_share": "ratio (0-1)",
}

_HEAD = "| metric | type | labels | unit | meaning |\n| --- | --- | --- | --- | --- |\n"
_ROW = re.compile(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| (.*) \|$")


@dataclass(frozen=True)
class Row:
    """One metric of the reference table."""

    name: str
    type: str
    labels: tuple[str, ...]
    unit: str
    meaning: str

    def markdown(self) -> str:
        labels = ", ".join(f"`{x}`" for x in self.labels) or "(none)"
        return f"| `{self.name}` | {self.type} | {labels} | {self.unit} | {self.meaning} |"


def _unit(name: str) -> str:
    if name in UNITS:
        return UNITS[name]
    suffixes = (("_timestamp_seconds", "Unix time, seconds"), ("_seconds", "seconds"),
                ("_bytes", "bytes"), ("_rate", "ratio (0-1)"), ("_ratio", "ratio (0-1)"))
    return next((unit for suffix, unit in suffixes if name.endswith(suffix)), "1")


def _exercised_registry() -> CollectorRegistry:
    """A registry whose every metric has at least one labelled sample."""
    from stream_monitor.pipeline.monitor import Monitor, SourceRecord
    from stream_monitor.sinks.prometheus import MonitorMetrics
    from stream_monitor.specs.model import ModelSpec
    from stream_monitor.tools.simulate import Scenario, demo_model_config, generate, reference_rows, to_json
    from stream_monitor.windows.profile import build_profile

    spec = ModelSpec.model_validate(demo_model_config())
    ref = build_profile(spec, reference_rows(5_000, seed=1), source="metrics reference")
    mon = Monitor([spec], {spec.model_id: ref}, max_message_bytes=1 << 20)
    registry = CollectorRegistry()
    metrics = MonitorMetrics(registry, lambda: [mon])
    events = list(generate(Scenario(kind="abrupt", change_at=1000, seed=3), 3000))
    events[0] = {**events[0], "features": {**events[0]["features"], "unconfigured": 1.0}}
    raws = [to_json(e) for e in events] + [b"{bad"]
    records = [SourceRecord("prediction", raw, "p", 0, i, b"k") for i, raw in enumerate(raws)]
    outcome = mon.observe(records, now=events[-1]["timestamp"] + 5)
    metrics.observe(outcome, now=1.0)
    for dl in outcome.dead_letters:
        metrics.dead_lettered(dl)
    # Set by the worker, not by observe(): give them one labelled sample each.
    metrics.published(spec.model_id, "v1", "critical")
    metrics.consumer_lag.labels("model-predictions", "0").set(0)
    metrics.gap_seeks.labels("predictions").inc(0)
    metrics.offset_regressions.labels("predictions").inc(0)
    metrics.batch_seconds.observe(0.01)
    return registry


@functools.cache
def exposed_metrics() -> tuple[Row, ...]:
    """Every metric an in-process MonitorMetrics exposes, with its labels, sorted by name."""
    registry = _exercised_registry()
    # Declared label names: of the client library's metric objects, and of the families
    # the scrape-time collectors yield (also when they have no sample).
    declared: dict[str, tuple[str, ...]] = {}
    for collector, names in registry._collector_to_names.items():  # noqa: SLF001
        for name in names:
            declared[name] = tuple(getattr(collector, "_labelnames", ()))
    rows = []
    for family in registry.collect():
        labels = dict.fromkeys(getattr(family, "_labelnames", None) or declared.get(family.name, ()))
        for sample in family.samples:
            labels.update(dict.fromkeys(k for k in sample.labels if k != "le"))
        name = family.name + "_total" if family.type == "counter" else family.name
        kind = "gauge (stateset)" if family.type == "stateset" else family.type
        rows.append(Row(name, kind, tuple(labels), _unit(name), family.documentation))
    return tuple(sorted(rows, key=lambda r: r.name))


def parse_table(markdown: str) -> dict[str, Row]:
    """The rows of a generated metrics table, by metric name."""
    out = {}
    for line in markdown.splitlines():
        m = _ROW.match(line)
        if m:
            labels = tuple(re.findall(r"`(\w+)`", m.group(3)))
            out[m.group(1)] = Row(m.group(1), m.group(2).strip(), labels, m.group(4).strip(), m.group(5).strip())
    return out


def metrics_reference() -> str:
    """The Markdown of docs/metrics.md."""
    rows = exposed_metrics()
    intro = [
        "# Metrics reference",
        "",
        "<!-- generated by `python -m stream_monitor.tools.docs_gen metrics`; do not edit -->",
        "",
        "Every metric the worker serves on `web.host:web.port` (`/metrics`, default",
        "`127.0.0.1:9108`), read from the exporter's own registry. How to read them, the",
        "conventions and the operations queries are in [operations.md](operations.md).",
        "Histogram buckets: lags 10 ms to 1 day, serving latency 1 ms to 5 s, batch time",
        "0.5 ms to 5 s. Counters also expose `_created` series.",
        "",
        f"{len(rows)} metrics:",
        "",
    ]
    return "\n".join(intro) + "\n" + _HEAD + "\n".join(r.markdown() for r in rows) + "\n"
