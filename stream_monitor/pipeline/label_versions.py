"""The label path's versions: the state of one model version, the base that keeps them, and
the drift path's view of a version's inputs as the label path sees it, event by event.

:class:`VersionOutcomes` is what the label path holds per model version: its open
prediction and pair windows, the reference (given or being learned), the concept
detectors, both policies, and what its last closed windows said.
:class:`OutcomeVersions` is the base of
:class:`~stream_monitor.pipeline.label_monitor.OutcomeMonitor`: the model's label
and fairness config, its versions (least recently seen first, at most
``max_versions``: the oldest is retired), how a prediction is read (score, class,
groups), and the persistence of the versions with the join buffer.

The label path asks whether a version's inputs are in drift (its reference period keeps only
predictions made while they are not, and a performance drop is told apart from a concept
change by it). The drift path takes a whole batch before the label path does, so reading its
state afterwards would give every event of the batch the state at the batch's end, and a batch
cut elsewhere would let other predictions into the reference period. A :class:`DriftTimeline`
starts from the state before the batch and applies each change the drift path made (its
window closes, ``ModelOutcome.marks``) at the event that made it: the label path sees what it
would see if every event came alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.streaming import build_concept
from stream_monitor.detectors.streaming_base import StreamingBase
from stream_monitor.events.models import PredictionEvent
from stream_monitor.pipeline.joins import JoinBuffer
from stream_monitor.pipeline.state import OutcomeMonitorState, OutcomeVersionState
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.groups import GroupCounts, group_of
from stream_monitor.windows.metric_values import MetricValue, class_key
from stream_monitor.windows.outcome_windows import PairWindow, PredictionWindow
from stream_monitor.windows.performance import PerformanceAccumulator
from stream_monitor.windows.persist import capture, restore

__all__ = ["DriftTimeline", "OutcomeVersions", "VersionOutcomes", "positive_key"]


_DEFAULT_LEARN = 2000  # pairs, when neither reference_performance nor learn_first_n is set


def positive_key(value: str) -> str:
    return {"true": "1", "false": "0"}.get(value.lower(), class_key(value))


@dataclass(slots=True)
class VersionOutcomes:
    """The label-path state of one model version."""

    version: str
    preds: PredictionWindow
    pairs: PairWindow
    reference: dict[str, MetricValue] | None = None
    learning: PerformanceAccumulator | None = None
    shares: dict[str, dict[str, float]] = field(default_factory=dict)  # attribute -> group -> reference share
    share_learning: dict[str, GroupCounts] | None = None
    concept: dict[str, StreamingBase] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    pair_policy: PolicyState = field(default_factory=PolicyState)
    pred_policy: PolicyState = field(default_factory=PolicyState)
    predictions: int = 0
    labelled: int = 0
    # the reference period (learned reference): predictions kept for it, the last one's time, pairs joined
    ref_admitted: int = 0
    ref_last_ts: float | None = None
    ref_joined: int = 0
    incarnation: str = ""  # the event time that started this life of the version (request ids)
    # in memory only: what the last closed windows said (exported at scrape time)
    last_pairs: WindowReport | None = None
    last_preds: WindowReport | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    drops: dict[str, float] = field(default_factory=dict)  # reference minus window, signed so that > 0 is worse
    estimates: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # metric -> (value, lo, hi)
    group_shares: dict[str, dict[str, float]] = field(default_factory=dict)
    histogram: list[float] | None = None
    differences: dict[tuple[str, str], float] = field(default_factory=dict)  # (other version, metric) -> diff

    @property
    def coverage(self) -> float | None:
        return self.labelled / self.predictions if self.predictions else None

    def to_state(self) -> OutcomeVersionState:
        return capture(OutcomeVersionState, self)


class OutcomeVersions:
    """The config and the versions of one model's label path (the base of ``OutcomeMonitor``)."""

    def __init__(self, spec: ModelSpec, input_drift: Callable[[str], bool] | None = None) -> None:
        if spec.labels is None and spec.fairness is None:
            raise ValueError(f"model {spec.model_id!r} has no labels or fairness config")
        self.spec = spec
        self.labels = spec.labels
        self.fairness = spec.fairness
        self.input_drift = input_drift or (lambda _v: False)
        self._drifting = self.input_drift  # as of the event being taken (see observe)
        self.declared: dict[str, list[str]] = dict(spec.fairness.groups) if spec.fairness else {}
        blob = spec.model_dump_json(include={"model_id", "labels", "fairness", "prediction"}).encode()
        self.params_hash = hashlib.sha256(blob).hexdigest()[:16]
        lab = self.labels
        self.bins = lab.score_bins if lab else 50
        self.positive = positive_key(lab.positive_label) if lab else "1"
        self.task = lab.task if lab else ("regression" if spec.prediction.type == "regression" else "binary")
        seed = int(hashlib.sha256(spec.model_id.encode()).hexdigest()[:8], 16)
        self.join = (
            JoinBuffer(ttl_seconds=lab.join_ttl_seconds, max_pending=lab.max_pending, max_labels=lab.max_pending_labels,
                       max_bytes=lab.max_pending_bytes, min_ttl_seconds=lab.join_min_ttl_seconds, seed=seed)
            if lab else None
        )
        self.learn_n = (lab.learn_first_n or _DEFAULT_LEARN) if lab else 0
        self.versions: dict[str, VersionOutcomes] = {}  # least recently seen first
        w = spec.fairness.window_events if spec.fairness and spec.fairness.window_events else spec.window.events
        self.pred_window_events = w or 1000

    # -- versions ------------------------------------------------------------------------

    def _new_version(self, version: str) -> VersionOutcomes:
        lab, fair = self.labels, self.fairness
        vs = VersionOutcomes(version, PredictionWindow.empty(0, self.declared, bins=self.bins),
                             self._empty_pairs(0))
        if lab is not None:
            if lab.reference_performance:
                vs.reference = {k: MetricValue(v, 0.0, 0) for k, v in lab.reference_performance.items()}
            else:
                vs.learning = PerformanceAccumulator.empty(self.task, bins=self.bins, max_classes=lab.max_classes)
            vs.concept = {c.kind: build_concept(c.kind, dict(c.params)) for c in lab.concept}
            vs.marks = dict.fromkeys(vs.concept, 0)
        if fair is not None:
            vs.shares = {a: dict(s) for a, s in fair.reference_shares.items()}
            if set(vs.shares) != set(self.declared):
                vs.share_learning = {a: GroupCounts.empty(gs) for a, gs in self.declared.items()}
        return vs

    def _empty_pairs(self, index: int) -> PairWindow:
        lab = self.labels
        return PairWindow.empty(index, self.task, self.declared, bins=self.bins,
                                max_classes=lab.max_classes if lab else 20)

    def _version(self, version: str, retired: list[str], ts: float) -> VersionOutcomes:
        vs = self.versions.pop(version, None)
        if vs is None:
            while len(self.versions) >= self.spec.max_versions:
                oldest = next(iter(self.versions))
                self.retire(oldest)
                retired.append(oldest)
            vs = self._new_version(version)
            vs.incarnation = repr(float(ts))
        self.versions[version] = vs
        return vs

    def retire(self, version: str) -> None:
        self.versions.pop(version, None)
        if self.join is not None:
            self.join.drop_version(version)

    # -- reading events ------------------------------------------------------------------

    def _read(self, e: PredictionEvent) -> tuple[float | None, Any, bool]:
        """(score, predicted class or value, predicted positive) of a prediction."""
        p = e.prediction
        score = e.score
        if self.task == "regression":
            value = float(p) if isinstance(p, int | float) and not isinstance(p, bool) else None
            return None, value, False
        if isinstance(p, float) and not isinstance(p, bool) and not p.is_integer() and 0.0 <= p <= 1.0:
            score = p if score is None else score
            thr = self.labels.threshold if self.labels else 0.5
            cls = "1" if p >= thr else "0"
        else:
            cls = class_key(p)
        return score, cls, cls == self.positive

    def _groups(self, e: PredictionEvent) -> list[str]:
        attrs = e.attributes or {}
        return [group_of(attrs.get(a), gs) for a, gs in self.declared.items()]

    # -- persistence ---------------------------------------------------------------------

    def to_state(self) -> OutcomeMonitorState:
        return capture(OutcomeMonitorState, self)

    def load_state(self, data: OutcomeMonitorState) -> bool:
        """Restore from :meth:`to_state` (each version named by its key, the join into the
        configured one); ``False`` (fresh state kept) when the config changed."""
        if data.params != self.params_hash:
            return False
        self.versions = {v: restore(VersionOutcomes, d, version=v) for v, d in data.versions.items()}
        if self.join is not None and data.join is not None:
            self.join.load_state(data.join)
        return True


class DriftTimeline:
    """Whether each version's inputs are in warning or drift, as of the current event.

    ``live`` is the drift path's current answer and ``versions`` the versions it knows, both
    read when the timeline is made (before the drift path takes the batch); a version it
    meets later starts clear. Set :attr:`marks` once the drift path has run, then
    :meth:`advance` before each label-path event.
    """

    def __init__(self, live: Callable[[str], bool], versions: Iterable[str]) -> None:
        self._state = {v: live(v) for v in versions}
        self.marks: tuple[tuple[int, str, bool], ...] = ()
        self._next = 0

    def advance(self, seen: int) -> None:
        """Apply the changes made by the drift path's first ``seen`` events of the batch."""
        marks = self.marks
        while self._next < len(marks) and marks[self._next][0] < seen:
            _, version, drifting = marks[self._next]
            self._state[version] = drifting
            self._next += 1

    def __call__(self, version: str) -> bool:
        return self._state.get(version, False)
