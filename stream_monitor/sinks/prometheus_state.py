"""The scrape-time collector of both paths' decisions: drift state, last window readings, label gauges.

Reads every monitor's frozen view at scrape time (the hot path sets no gauges
for them): per live model version the drift state (a state set) and severity,
the open and last window's sizes, the last closed window's statistics,
thresholds, p-values and data-quality ratios, and, in the same pass, the label
path's gauges (:class:`~stream_monitor.sinks.prometheus_outcomes.LabelGauges`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client.core import GaugeMetricFamily, Metric, StateSetMetricFamily
from prometheus_client.registry import Collector

from stream_monitor.detectors.base import DetectorState
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.sinks.prometheus_outcomes import LabelGauges

__all__ = ["StateCollector"]

_SEVERITY: Final = {DetectorState.OK: 0, DetectorState.WARNING: 1, DetectorState.DRIFT: 2}


class StateCollector(Collector):
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
            view = mon.view()
            self.labels.fill(label_families, view)
            for mm in view.models:
                model_id = mm.model
                for vs in mm.versions:
                    version = vs.version
                    labels = [model_id, version]
                    state.add_metric(labels, {s.value: s is vs.policy.state for s in DetectorState})
                    severity.add_metric(labels, _SEVERITY[vs.policy.state])
                    open_n.add_metric(labels, vs.window_events)
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
