"""The monitor's frozen view: everything the edges read of a :class:`~stream_monitor.pipeline.monitor.Monitor`.

The metrics collectors, the status page, the runtime and the tools read a
:class:`MonitorView` (from :meth:`Monitor.view`), never the live monitor
objects: a view is a detached copy of the few values they show, so what an edge
reads cannot change under it, and the pipeline may reshape its internals
without touching the edges. The values are plain numbers and strings, or
values that are already frozen (:class:`~stream_monitor.decisions.policy.WindowReport`,
:class:`~stream_monitor.decisions.incident.LastRequest`, the frozen
:class:`~stream_monitor.windows.profile.ReferenceProfile`), shared rather than copied.

The view is built on every Prometheus scrape and, for the models a batch
touched, after every batch (the status page's plots), so it copies only what
an edge reads: a handful of numbers per model version, and the open window's
bin counts only when asked for (``windows=True``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.incident import LastRequest
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.detectors.base import DetectorState
from stream_monitor.windows.profile import ReferenceProfile

__all__ = [
    "DriftModelView",
    "DriftVersionView",
    "FeatureCounts",
    "JoinView",
    "LabelPathView",
    "LabelVersionView",
    "MonitorView",
    "PolicyView",
]


@dataclass(frozen=True, slots=True)
class PolicyView:
    """Where the decision policy of one model version (or of one label-path window kind) stands."""

    state: DetectorState
    streak: int  # consecutive drifting windows (0 while a drift clears)
    drifting_windows: int  # of the last ``retrain.history`` sufficient windows
    incident_open: bool  # a request was made since the state entered drift
    last_request: LastRequest | None  # what the last published request said

    @property
    def open_request(self) -> LastRequest | None:
        """The last request of the open incident: set only in the drift state with an open incident."""
        return self.last_request if (self.state is DetectorState.DRIFT and self.incident_open) else None


@dataclass(frozen=True, slots=True)
class FeatureCounts:
    """One feature's counts in the open window, on its reference's bins."""

    feature: str
    kind: Literal["numeric", "categorical"]
    counts: tuple[int, ...]
    missing: int


@dataclass(frozen=True, slots=True)
class DriftVersionView:
    """The drift path of one model version."""

    version: str
    policy: PolicyView
    window_events: int  # prediction events in the open window
    learning: bool  # still learning its reference from the stream
    last_report: WindowReport | None  # the last closed window's (in memory only: None after a restart)
    reference: ReferenceProfile | None
    open_window: tuple[FeatureCounts, ...] = ()  # only with ``windows=True`` and a non-empty window


@dataclass(frozen=True, slots=True)
class DriftModelView:
    """The drift path of one model: its configuration facts and its live versions (least recently seen first)."""

    model: str
    features: frozenset[str]  # the configured feature names
    history: int  # ``retrain.history``: the n of the k-of-n rule
    versions: tuple[DriftVersionView, ...]

    def version(self, version: str) -> DriftVersionView | None:
        return next((v for v in self.versions if v.version == version), None)


@dataclass(frozen=True, slots=True)
class JoinView:
    """The label join buffer of one model."""

    keep_probability: float
    ttl_seconds: float
    pending_bytes: int


@dataclass(frozen=True, slots=True)
class LabelVersionView:
    """The label path of one model version: what its last closed windows said."""

    version: str
    coverage: float | None  # labelled / predictions
    metrics: Mapping[str, float]  # performance of the last pair window
    reference: Mapping[str, float]  # the reference performance
    drops: Mapping[str, float]  # reference minus window (> 0: worse)
    estimates: Mapping[str, tuple[float, float, float]]  # metric -> (estimate, lower, upper)
    group_shares: Mapping[str, Mapping[str, float]]  # attribute -> group -> share
    differences: Mapping[tuple[str, str], float]  # (baseline version, metric) -> this minus baseline
    last_pairs: WindowReport | None
    last_preds: WindowReport | None
    pair_policy: PolicyView
    pred_policy: PolicyView


@dataclass(frozen=True, slots=True)
class LabelPathView:
    """The label path of one model."""

    model: str
    labelled: bool  # labels are configured (else fairness only)
    declared: Mapping[str, tuple[str, ...]]  # fairness attribute -> declared groups
    join: JoinView | None
    versions: tuple[LabelVersionView, ...]


@dataclass(frozen=True, slots=True)
class MonitorView:
    """One monitor (one source partition's state) as the edges see it."""

    positions: Mapping[tuple[str, int], int]  # (topic, partition) -> offset of the next record expected
    pending: tuple[RetrainRequest, ...]  # decided, not yet acknowledged by the broker
    models: tuple[DriftModelView, ...]
    labels: tuple[LabelPathView, ...]

    def model(self, model_id: str) -> DriftModelView | None:
        return next((m for m in self.models if m.model == model_id), None)

    def label_path(self, model_id: str) -> LabelPathView | None:
        return next((m for m in self.labels if m.model == model_id), None)

    def position(self, topic: str, partition: int) -> int | None:
        return self.positions.get((topic, partition))

    @property
    def pending_ids(self) -> frozenset[str]:
        return frozenset(r.request_id for r in self.pending)
