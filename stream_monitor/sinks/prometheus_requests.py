"""The drift decision as Prometheus series: what the last published retrain request said.

While a model version's drift incident is open (its policy is in the drift
state and a request of the incident was acknowledged by the broker), the
collector exports, read at scrape time from the monitors' frozen views:

``<prefix>_retrain_request_info{model, version, request_id, severity, features}``
    1 for the newest published request of the incident; ``severity`` and
    ``features`` (comma-separated, in the request's order) are exactly what the
    request on the retrain topic says.
``<prefix>_retrain_request_feature{model, version, request_id, severity, feature}``
    1 for each feature that request names: one alert per feature, grouped by
    Alertmanager into the same notification as the request's alert.

The series come from the persisted policy state (:class:`Incident`), not from
a counter set when publishing: a restarted worker exports the same request
again instead of a "recovery", and a request decided but not yet acknowledged
(``MonitorView.pending``) is not exported. Cardinality is bounded: one request per
live model version, and feature names are kept only when their base name is a
configured feature (or the prediction / multivariate pseudo-features); any
other name is dropped from the labels, never copied from input.

The label path's incidents (performance, concept drift, representation,
fairness: the same policy on the joined pairs and on the predictions) are
exported the same way, with the subjects their requests name: a metric name
(``accuracy``, ``error_rate``, ...) or ``attribute=group`` with a configured
attribute and one of its declared groups (or ``other``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Final

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.pipeline.view import PolicyView
from stream_monitor.specs.labels import OTHER_GROUP
from stream_monitor.windows.profile import MULTIVARIATE, PREDICTION
from stream_monitor.windows.segments import base_feature

__all__ = ["RequestCollector", "label_subjects", "labelled_features"]

_PSEUDO: Final = frozenset({PREDICTION, MULTIVARIATE})
_METRIC: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")  # the label path's closed-set metric names


def labelled_features(features: Iterable[str], configured: frozenset[str]) -> tuple[str, ...]:
    """The features of a request that may become label values, in their order.

    >>> labelled_features(["amount", "bogus", "__prediction__"], frozenset({"amount"}))
    ('amount', '__prediction__')
    """
    allowed = configured | _PSEUDO
    out: list[str] = []
    for f in features:
        if base_feature(f) in allowed and f not in out:
            out.append(f)
    return tuple(out)


class RequestCollector(Collector):
    """Exports the open drift incident's last published request of every live model version."""

    def __init__(self, prefix: str, monitors: Callable[[], Iterable[Monitor]]) -> None:
        self.p = prefix
        self.monitors = monitors

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        p = self.p
        return (
            GaugeMetricFamily(
                f"{p}_retrain_request_info",
                "1 while the drift incident of the model version is open: its newest published retrain request.",
                labels=["model", "version", "request_id", "severity", "features"],
            ),
            GaugeMetricFamily(
                f"{p}_retrain_request_feature",
                "1 for each feature named by the open incident's newest published retrain request.",
                labels=["model", "version", "request_id", "severity", "feature"],
            ),
        )

    def collect(self) -> Iterator[Metric]:
        info, feature = self._families()
        for mon in self.monitors():
            view = mon.view()
            pending = view.pending_ids
            for mm in view.models:
                for vs in mm.versions:
                    self._add(info, feature, pending, mm.model, vs.version, vs.policy,
                              lambda fs, c=mm.features: labelled_features(fs, c))  # type: ignore[misc]
            for om in view.labels:
                for ovs in om.versions:
                    for policy in (ovs.pair_policy, ovs.pred_policy):
                        self._add(info, feature, pending, om.model, ovs.version, policy,
                                  lambda fs, d=om.declared: label_subjects(fs, d))  # type: ignore[misc]
        yield info
        yield feature

    @staticmethod
    def _add(info: GaugeMetricFamily, feature: GaugeMetricFamily, pending: frozenset[str], model_id: str,
             version: str, policy: PolicyView, allowed: Callable[[Iterable[str]], tuple[str, ...]]) -> None:
        last = policy.open_request
        if last is None or last.request_id in pending:
            return
        names = allowed(last.features)
        info.add_metric([model_id, version, last.request_id, last.severity, ",".join(names)], 1.0)
        for name in names:
            feature.add_metric([model_id, version, last.request_id, last.severity, name], 1.0)


def label_subjects(subjects: Iterable[str], declared: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The subjects of a label-path request that may become label values: metric names, and
    ``attribute=group`` of a configured attribute and a ``declared`` group (or ``other``)."""
    out: list[str] = []
    for s in subjects:
        attr, sep, group = s.partition("=")
        ok = (group in declared.get(attr, ()) or group == OTHER_GROUP) if sep else bool(_METRIC.fullmatch(s))
        if ok and s not in out:
            out.append(s)
    return tuple(out)
