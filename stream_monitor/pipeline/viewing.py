"""Building the frozen :class:`~stream_monitor.pipeline.view.MonitorView` from a monitor's live state.

The one place that reads the monitors' internals on behalf of the edges
(:meth:`stream_monitor.pipeline.monitor.Monitor.view` calls :func:`monitor_view`).
Each builder copies only what the view declares: numbers, strings and
references to values that are frozen already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TypeVar

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.decisions.state import PolicyState
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.pipeline.label_versions import VersionOutcomes
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.pipeline.version_state import VersionState
from stream_monitor.pipeline.view import (
    DriftModelView,
    DriftVersionView,
    FeatureCounts,
    JoinView,
    LabelPathView,
    LabelVersionView,
    MonitorView,
    PolicyView,
)
from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator

__all__ = ["drift_model_view", "label_path_view", "monitor_view", "policy_view"]

K = TypeVar("K")
V = TypeVar("V")


def _frozen(items: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only copy (insertion order kept: the exposition's sample order follows it)."""
    return MappingProxyType(dict(items))


def policy_view(policy: PolicyState) -> PolicyView:
    incident = policy.incident
    return PolicyView(state=policy.state, streak=policy.streak, drifting_windows=sum(policy.history),
                      incident_open=incident.open, last_request=incident.last)


def _open_window(state: VersionState) -> tuple[FeatureCounts, ...]:
    """The open window's counts per numeric or categorical feature (empty while the window is)."""
    w = state.window
    if w is None or w.n == 0:
        return ()
    out = []
    for feature, acc in w.accumulators.items():
        if isinstance(acc, NumericAccumulator):
            out.append(FeatureCounts(feature, "numeric", tuple(acc.counts.tolist()), acc.missing))
        elif isinstance(acc, CategoricalAccumulator):
            out.append(FeatureCounts(feature, "categorical", tuple(acc.counts.tolist()), acc.missing))
    return tuple(out)


def _drift_version(state: VersionState, *, windows: bool) -> DriftVersionView:
    return DriftVersionView(
        version=state.version,
        policy=policy_view(state.policy),
        window_events=state.window.n if state.window is not None else 0,
        learning=state.learning is not None,
        last_report=state.last_report,
        reference=state.reference,
        open_window=_open_window(state) if windows else (),
    )


def drift_model_view(model_id: str, mm: ModelMonitor, *, windows: bool = False) -> DriftModelView:
    spec = mm.spec
    return DriftModelView(
        model=model_id,
        features=frozenset(f.name for f in spec.features),
        history=spec.retrain.history,
        versions=tuple(_drift_version(s, windows=windows) for s in mm.versions.values()),
    )


def _label_version(vs: VersionOutcomes) -> LabelVersionView:
    return LabelVersionView(
        version=vs.version,
        coverage=vs.coverage,
        metrics=_frozen({k: m.value for k, m in vs.metrics.items()}),
        reference=_frozen({k: m.value for k, m in (vs.reference or {}).items()}),
        drops=_frozen(vs.drops),
        estimates=_frozen(vs.estimates),
        group_shares=_frozen({a: _frozen(g) for a, g in vs.group_shares.items()}),
        differences=_frozen(vs.differences),
        last_pairs=vs.last_pairs,
        last_preds=vs.last_preds,
        pair_policy=policy_view(vs.pair_policy),
        pred_policy=policy_view(vs.pred_policy),
    )


def label_path_view(model_id: str, om: OutcomeMonitor) -> LabelPathView:
    join = om.join
    return LabelPathView(
        model=model_id,
        labelled=om.labels is not None,
        declared=_frozen({a: tuple(gs) for a, gs in om.declared.items()}),
        join=JoinView(join.keep_probability, join.ttl, join.bytes) if join is not None else None,
        versions=tuple(_label_version(vs) for vs in om.versions.values()),
    )


def monitor_view(
    positions: Mapping[tuple[str, int], int],
    pending: Iterable[RetrainRequest],
    drift: Mapping[str, ModelMonitor],
    labels: Mapping[str, OutcomeMonitor],
    models: Iterable[str] | None = None,
    *,
    windows: bool = False,
) -> MonitorView:
    """The view of one monitor's parts; only ``models`` (in their order) when given."""
    chosen = list(drift) if models is None else [m for m in models if m in drift]
    return MonitorView(
        positions=_frozen(positions),
        pending=tuple(pending),
        models=tuple(drift_model_view(m, drift[m], windows=windows) for m in chosen),
        labels=tuple(label_path_view(m, labels[m]) for m in chosen if m in labels),
    )
