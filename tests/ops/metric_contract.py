"""The metrics contract of stream-monitor: the single source of truth for the ops bundle.

Every metric name that the Prometheus rules (prometheus/*.yml) and the Grafana
dashboards (grafana/dashboards/*.json) reference must be listed here, and every
label they select on must be one of the metric's labels.  When the exporter in
stream_monitor/ gains or renames a metric, change this file first; the ops tests
then show which rule or panel must follow.

Names are the exposition names (counters with their ``_total`` suffix,
histograms without ``_bucket``/``_sum``/``_count``).
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "stream_monitor_"

# Labels that Prometheus attaches at scrape time; allowed on every metric.
TARGET_LABELS: frozenset[str] = frozenset({"job", "instance"})

# Series that Prometheus itself generates and that rules/dashboards may use, with
# the labels they may be selected on (None: any label, ALERTS carries the alert's).
PROMETHEUS_SYNTHETIC: dict[str, frozenset[str] | None] = {
    "up": frozenset(),
    "ALERTS": None,
}

# Closed label value sets (used to check equality matchers in rules/dashboards).
KINDS = frozenset({"prediction", "feature", "label"})
DLQ_SOURCES = frozenset({"predictions", "features", "labels"})
DLQ_REASONS = frozenset(
    {
        "invalid_json",
        "schema_violation",
        "unknown_model",
        "non_finite_value",
        "too_large",
        "too_deep",
        "empty_payload",
        "batch_too_large",
        "duplicate_key",
        "timestamp_out_of_range",
    }
)
RETRAIN_SEVERITIES = frozenset({"warning", "critical"})
DRIFT_STATES = frozenset({"ok", "warning", "drift"})
PERFORMANCE_METRICS = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "calibration_error",
        "mae",
        "rmse",
        "mape",
        "bias",
    }
)
FAIRNESS_METRICS = frozenset(
    {"demographic_parity_difference", "disparate_impact_ratio", "tpr_gap", "fpr_gap"}
)
ESTIMATED_METRICS = frozenset({"accuracy", "roc_auc"})
ESTIMATE_BOUNDS = frozenset({"estimate", "lower", "upper"})
JOIN_REASONS = frozenset({"ttl", "capacity"})
LABEL_ORPHAN_REASONS = frozenset({"ttl", "capacity", "late"})
VERSION_DIFFERENCE_METRICS = PERFORMANCE_METRICS | {"score_psi"}
# Detector names are open-ended ("e.g."), so they are not checked.
KNOWN_DETECTORS = frozenset(
    {"psi", "ks", "chi2", "jensen_shannon", "wasserstein", "hellinger", "missing_rate", "mmd"}
)
# Reserved feature names.
PREDICTION_FEATURE = "__prediction__"
MULTIVARIATE_FEATURE = "__multivariate__"  # stream_monitor.windows.profile.MULTIVARIATE

# Demo deployment.
DEMO_MODEL = "fraud-detector"
DEMO_VERSION = "v1"
DEMO_FEATURES = ("amount", "age", "account_age_days", "merchant_category", "country")
METRICS_PORT = 9108


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # counter | gauge | histogram | stateset
    labels: tuple[str, ...]
    values: dict[str, frozenset[str]] | None = None  # closed label value sets

    def series_names(self) -> frozenset[str]:
        """Names under which this metric's series appear in Prometheus."""
        if self.type == "histogram":
            return frozenset({f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"})
        if self.type == "counter":
            base = self.name.removesuffix("_total")
            return frozenset({self.name, f"{base}_created"})
        return frozenset({self.name})

    def allowed_labels(self, series_name: str) -> frozenset[str]:
        extra = {"le"} if series_name.endswith("_bucket") else set()
        return frozenset(self.labels) | TARGET_LABELS | extra


_MVF = ("model", "version", "feature")
_MVFD = ("model", "version", "feature", "detector")
_MV = ("model", "version")

METRICS: tuple[Metric, ...] = (
    # Counters
    Metric(
        "stream_monitor_events_consumed_total",
        "counter",
        ("model", "version", "kind"),
        {"kind": KINDS},
    ),
    Metric(
        "stream_monitor_dead_letter_total",
        "counter",
        ("source", "reason"),
        {"source": DLQ_SOURCES, "reason": DLQ_REASONS},
    ),
    Metric(
        "stream_monitor_retrain_requests_total",
        "counter",
        ("model", "version", "severity"),
        {"severity": RETRAIN_SEVERITIES},
    ),
    Metric("stream_monitor_windows_closed_total", "counter", _MV),
    Metric("stream_monitor_unknown_features_total", "counter", ("model",)),
    Metric("stream_monitor_version_overflow_total", "counter", ("model", "kind")),
    Metric("stream_monitor_replayed_records_skipped_total", "counter", ()),
    Metric("stream_monitor_gap_seeks_total", "counter", ("source",), {"source": DLQ_SOURCES}),
    Metric("stream_monitor_offset_regressions_total", "counter", ("source",), {"source": DLQ_SOURCES}),
    Metric("stream_monitor_state_restores_total", "counter", ("result",),
           {"result": ("restored", "reset", "unreadable")}),
    # Drift
    Metric("stream_monitor_drift_statistic", "gauge", _MVFD),
    Metric("stream_monitor_drift_threshold", "gauge", _MVFD),
    Metric("stream_monitor_drift_p_value", "gauge", _MVFD),
    Metric("stream_monitor_feature_drift", "gauge", _MVFD),
    Metric(
        "stream_monitor_model_drift_state",
        "stateset",
        ("model", "version", "stream_monitor_model_drift_state"),
        {"stream_monitor_model_drift_state": DRIFT_STATES},
    ),
    Metric("stream_monitor_model_drift_severity", "gauge", _MV),
    # The drift decision: the open incident's newest published retrain request
    Metric(
        "stream_monitor_retrain_request_info",
        "gauge",
        ("model", "version", "request_id", "severity", "features"),
        {"severity": RETRAIN_SEVERITIES},
    ),
    Metric(
        "stream_monitor_retrain_request_feature",
        "gauge",
        ("model", "version", "request_id", "severity", "feature"),
        {"severity": RETRAIN_SEVERITIES},
    ),
    # Windows and freshness
    Metric("stream_monitor_window_events", "gauge", _MV),
    Metric("stream_monitor_last_window_events", "gauge", _MV),
    Metric("stream_monitor_last_evaluation_timestamp_seconds", "gauge", _MV),
    Metric("stream_monitor_last_event_timestamp_seconds", "gauge", _MV),
    # Data quality
    Metric("stream_monitor_missing_ratio", "gauge", _MVF),
    Metric("stream_monitor_out_of_range_ratio", "gauge", _MVF),
    Metric("stream_monitor_unseen_category_ratio", "gauge", _MVF),
    # Latencies
    Metric("stream_monitor_processing_lag_seconds", "histogram", ("model",)),
    Metric("stream_monitor_serving_latency_seconds", "histogram", _MV),
    Metric("stream_monitor_batch_processing_seconds", "histogram", ()),
    # Worker
    Metric("stream_monitor_worker_up", "gauge", ()),
    Metric("stream_monitor_worker_ready", "gauge", ()),
    Metric("stream_monitor_build_info", "gauge", ("version",)),
    Metric("stream_monitor_consumer_lag", "gauge", ("topic", "partition")),
    Metric("stream_monitor_event_loop_lag_seconds", "gauge", ()),
    Metric("stream_monitor_state_bytes", "gauge", ()),
    Metric("stream_monitor_broker_reachable", "gauge", ()),
    Metric("stream_monitor_event_loop_blocked_total", "counter", ()),
    # Performance
    Metric(
        "stream_monitor_performance_metric",
        "gauge",
        ("model", "version", "metric"),
        {"metric": PERFORMANCE_METRICS},
    ),
    Metric(
        "stream_monitor_performance_reference",
        "gauge",
        ("model", "version", "metric"),
        {"metric": PERFORMANCE_METRICS},
    ),
    Metric(
        "stream_monitor_performance_drop",
        "gauge",
        ("model", "version", "metric"),
        {"metric": PERFORMANCE_METRICS},
    ),
    Metric(
        "stream_monitor_performance_breach",
        "gauge",
        ("model", "version", "metric"),
        {"metric": PERFORMANCE_METRICS},
    ),
    Metric("stream_monitor_label_coverage_ratio", "gauge", _MV),
    # Fairness
    Metric(
        "stream_monitor_fairness_metric",
        "gauge",
        ("model", "version", "attribute", "metric"),
        {"metric": FAIRNESS_METRICS},
    ),
    Metric(
        "stream_monitor_fairness_breach",
        "gauge",
        ("model", "version", "attribute", "metric"),
        {"metric": FAIRNESS_METRICS},
    ),
    Metric(
        "stream_monitor_fairness_sample_size",
        "gauge",
        ("model", "version", "attribute", "metric"),
        {"metric": FAIRNESS_METRICS},
    ),
    Metric("stream_monitor_group_share", "gauge", ("model", "version", "attribute", "group")),
    # Label join, feature-event join (models[].feature_join) and label-free estimation
    Metric("stream_monitor_label_delay_seconds", "histogram", _MV),
    Metric("stream_monitor_labels_joined_total", "counter", _MV),
    Metric("stream_monitor_labels_expired_total", "counter", ("model", "version", "reason"), {"reason": JOIN_REASONS}),
    Metric("stream_monitor_labels_orphaned_total", "counter", ("model", "reason"), {"reason": LABEL_ORPHAN_REASONS}),
    Metric("stream_monitor_labels_sampled_out_total", "counter", ("model", "version")),
    Metric("stream_monitor_label_join_keep_probability", "gauge", ("model",)),
    Metric("stream_monitor_label_join_ttl_seconds", "gauge", ("model",)),
    Metric("stream_monitor_label_join_pending_bytes", "gauge", ("model",)),
    Metric("stream_monitor_labels_duplicate_total", "counter", ("model",)),
    Metric("stream_monitor_feature_join_expired_total", "counter", ("model", "version", "reason"),
           {"reason": JOIN_REASONS}),
    Metric("stream_monitor_feature_join_orphaned_total", "counter", ("model", "version", "reason"),
           {"reason": JOIN_REASONS}),
    Metric(
        "stream_monitor_performance_estimate",
        "gauge",
        ("model", "version", "metric", "bound"),
        {"metric": ESTIMATED_METRICS, "bound": ESTIMATE_BOUNDS},
    ),
    Metric(
        "stream_monitor_version_difference",
        "gauge",
        ("model", "version", "baseline", "metric"),
        {"metric": VERSION_DIFFERENCE_METRICS},
    ),
)

METRICS_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
assert len(METRICS_BY_NAME) == len(METRICS), "a metric is listed twice"

# series name (as written in PromQL) -> Metric
SERIES_INDEX: dict[str, Metric] = {series: m for m in METRICS for series in m.series_names()}


def lookup(series_name: str) -> Metric | None:
    """Return the contract metric a PromQL series name belongs to, if any."""
    return SERIES_INDEX.get(series_name)
