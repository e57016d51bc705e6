"""OutcomeMonitor: the label path of one model (join, performance, concept, fairness).

Predictions and labels of one model come in arrival order. Predictions enter
the join buffer (:mod:`stream_monitor.pipeline.joins`, only what the metrics need)
and the version's prediction window (fairness, representation, the label-free
estimate, the score histogram); labels join them by ``event_id``. Joined pairs
feed the version's pair window (performance, label-based fairness gaps, the
estimate on the same events) and the concept-drift detectors on the error
stream. Closed windows are judged (:func:`stream_monitor.decisions.policy.decide_outcomes`)
and may yield retrain requests.

*Inputs moved or the relation moved?* A pair window whose realized accuracy
falls below the estimate from its own scores (beyond its bound), or whose
error-stream detectors fired, while the inputs of the version are not in
drift, has ``cause="concept"``; a breach while the inputs drift has
``cause="covariate"``.

*Reference performance.* ``labels.reference_performance``, else learned from
the version's reference period: the pairs of its first ``learn_first_n``
predictions kept while its inputs were not in drift (never sampled out of the
join; see :meth:`OutcomeMonitor._settle_reference` for when it is fixed).
Pairs of later predictions go to the windows, whatever order labels arrive in.

*Readings come unjudged*: each carries its p-value (a one-sided test of
*the value is within its tolerance*: performance against the reference, the
realized against the estimated accuracy, group gaps by
:func:`~stream_monitor.detectors.fairness.gap_test`, representation by
chi-square) or its statistic against a threshold (concept drift), and its
family; the policy corrects each family over the window and applies the
persistence and severity rules, as for drift windows.

Pure: no clock, no I/O. The state (join buffer and windows, bounded) has its
own parameter hash: changing the label config resets only the label path.
:meth:`OutcomeMonitor.finish` closes the open windows at the end of a finite input.

Here: taking events (the reference period, the windows' updates). The versions and
their persistence are in :mod:`~stream_monitor.pipeline.label_versions`, the window
closes in :mod:`~stream_monitor.pipeline.label_windows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.events.models import LabelEvent, PredictionEvent
from stream_monitor.pipeline.join_bounds import WARM_DELAYS
from stream_monitor.pipeline.joins import Pair
from stream_monitor.pipeline.label_versions import DriftTimeline, VersionOutcomes, positive_key
from stream_monitor.pipeline.label_windows import OutcomeWindows
from stream_monitor.windows.metric_values import class_key

__all__ = ["OutcomeBatch", "OutcomeMonitor"]

OutcomeEvent = PredictionEvent | LabelEvent


@dataclass(frozen=True, slots=True)
class OutcomeBatch:
    """What one call of :meth:`OutcomeMonitor.observe` produced."""

    reports: tuple[WindowReport, ...] = ()
    requests: tuple[RetrainRequest, ...] = ()
    delays: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # version -> label delays (seconds)
    expired: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (version, reason)
    orphaned: Mapping[str, int] = field(default_factory=dict)  # reason
    duplicates: int = 0
    retired: tuple[str, ...] = ()
    sampled: Mapping[str, int] = field(default_factory=dict)  # version -> predictions sampled out of the join


class OutcomeMonitor(OutcomeWindows):
    """The label path of one model; see the module docstring.

    Parameters
    ----------
    spec
        The model's configuration (``labels`` and/or ``fairness`` set).
    input_drift
        Whether the inputs of a version are in drift (from the drift path).
    """

    # -- the hot path --------------------------------------------------------------------

    def observe(self, events: Sequence[OutcomeEvent], timeline: DriftTimeline | None = None,
                seen: Sequence[int] = ()) -> OutcomeBatch:
        """Take ``events`` in order. With a ``timeline``, the inputs' drift state is read as of
        each event: ``seen[i]`` is how many of the drift path's events of the batch come up to
        ``events[i]``."""
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        delays: dict[str, list[float]] = {}
        retired: list[str] = []
        self._drifting = timeline if timeline is not None else self.input_drift
        try:
            self._take(events, timeline, seen, (reports, requests, delays, retired))
        finally:
            self._drifting = self.input_drift
        expired, orphaned, duplicates = self.join.drain() if self.join is not None else ({}, {}, 0)
        sampled = self.join.drain_sampled() if self.join is not None else {}
        return OutcomeBatch(tuple(reports), tuple(requests), {k: tuple(v) for k, v in delays.items()},
                            expired, orphaned, duplicates, tuple(retired), sampled)

    def _take(self, events: Sequence[OutcomeEvent], timeline: DriftTimeline | None, seen: Sequence[int],
              out: tuple[list[WindowReport], list[RetrainRequest], dict[str, list[float]], list[str]]) -> None:
        reports, requests, delays, retired = out
        for i, e in enumerate(events):
            if timeline is not None:
                timeline.advance(seen[i])
            if isinstance(e, LabelEvent):
                if self.join is not None:
                    for pair in self.join.add_label(e.event_id, e.model_version, e.timestamp, e.label):
                        self._pair(pair, delays, reports, requests)
                    self._settle_references()
                continue
            vs = self._version(e.model_version, retired, e.timestamp)
            score, predicted, positive = self._read(e)
            groups = self._groups(e)
            self._prediction(vs, e.timestamp, groups, positive, score, predicted, reports, requests)
            if self.join is not None:
                scores = dict(e.scores) if (e.scores and len(e.scores) <= self.labels.max_classes) else None  # type: ignore[union-attr]
                # The reference period: the first learn_n predictions kept while the inputs are not in drift.
                eligible = (vs.learning is not None and vs.ref_admitted < self.learn_n
                            and not self._drifting(e.model_version))
                payload = [score, predicted, groups, scores, eligible]
                joined = self.join.add_prediction(e.event_id, e.model_version, e.timestamp, payload, pinned=eligible)
                if eligible and self.join.admitted:
                    vs.ref_admitted += 1
                    vs.ref_last_ts = e.timestamp if vs.ref_last_ts is None else max(vs.ref_last_ts, e.timestamp)
                for pair in joined:
                    self._pair(pair, delays, reports, requests)
                self._settle_references()

    def finish(self) -> OutcomeBatch:
        """Close every open window that holds events (the end of a finite input, e.g. a
        backtest): the same judgement as a full window, on fewer events (a window below
        its minimum is reported insufficient). Pending predictions stay pending."""
        reports: list[WindowReport] = []
        requests: list[RetrainRequest] = []
        for vs in list(self.versions.values()):
            if vs.share_learning is None and vs.preds.n > 0:
                self._close_predictions(vs, reports, requests)
            if self.labels is not None and vs.pairs.n > 0:
                self._close_pairs(vs, reports, requests)
        return OutcomeBatch(tuple(reports), tuple(requests))

    def _settle_references(self) -> None:
        for vs in self.versions.values():
            if vs.learning is not None:
                self._settle_reference(vs)

    def _settle_reference(self, vs: VersionOutcomes) -> None:
        """Fix the learned reference once its period is over (checked after every event, so
        that the outcome does not depend on how events are batched):

        * every prediction of the period joined; or
        * the observed 99th-percentile label delay (after ``WARM_DELAYS`` joins) has
          passed since the period's last prediction, with at least ``min_pairs`` pairs; or
        * the join TTL has passed since then (the rest expired unlabelled): with fewer
          than ``min_pairs`` pairs the period is extended by the next ``learn_n`` predictions.
        """
        lab, join = self.labels, self.join
        if vs.learning is None or lab is None or join is None or vs.ref_admitted < self.learn_n:
            return
        wm, last = join.watermark, vs.ref_last_ts
        if wm is None or last is None:
            return
        enough = vs.learning.n >= lab.min_pairs
        done = vs.ref_joined >= vs.ref_admitted
        if not done and enough and join.n_delays >= WARM_DELAYS:
            done = wm > last + (join.delay_quantile(0.99) or 0.0)
        expired = wm > last + join.ttl
        if done or (expired and enough):
            vs.reference = vs.learning.metrics()
            vs.learning = None
        elif expired:
            vs.ref_admitted = vs.ref_joined = 0

    def _prediction(self, vs: VersionOutcomes, ts: float, groups: list[str], positive: bool, score: float | None,
                    predicted: Any, reports: list[WindowReport], requests: list[RetrainRequest]) -> None:
        vs.predictions += 1
        if vs.share_learning is not None:
            for counts, g in zip(vs.share_learning.values(), groups, strict=True):
                counts.add(g, positive=positive)
            assert self.fairness is not None
            if next(iter(vs.share_learning.values())).total >= self.fairness.learn_first_n:
                for a, counts in vs.share_learning.items():
                    vs.shares.setdefault(a, {g: k / counts.total for g, k in zip(counts.groups, counts.n, strict=True)})
                vs.share_learning = None
            return  # the reference shares are being learned: no window yet
        w = vs.preds
        w.add(ts, groups, positive, score)
        if score is not None and self.task == "binary" and (self.labels is None or self.labels.estimate):
            w.add_estimate(score, positive)
        if w.n >= self.pred_window_events:
            self._close_predictions(vs, reports, requests)

    def _pair(self, pair: Pair, delays: dict[str, list[float]], reports: list[WindowReport],
              requests: list[RetrainRequest]) -> None:
        vs = self.versions.get(pair.version)
        if vs is None:  # retired meanwhile
            return
        lab = self.labels
        assert lab is not None
        score, predicted, groups, scores, *flag = pair.payload
        vs.labelled += 1
        delays.setdefault(pair.version, []).append(pair.delay)
        w = vs.pairs
        learn = vs.learning is not None and bool(flag and flag[0])  # a pair of the reference period
        if learn:
            vs.ref_joined += 1
        target = vs.learning if (learn and vs.learning is not None) else w.performance
        error: float | None
        if self.task == "regression":
            if predicted is None or isinstance(pair.label, bool) or not isinstance(pair.label, int | float):
                return
            target.add_regression(float(predicted), float(pair.label))
            error = abs(float(predicted) - float(pair.label))
        else:
            label = positive_key(pair.label) if isinstance(pair.label, str) else class_key(pair.label)
            if self.task == "binary":
                actual = label == self.positive
                target.add_binary(predicted == self.positive, score, actual)
                error = float((predicted == self.positive) != actual)
            else:
                target.add_multiclass(predicted, scores, label)
                actual = label == self.positive
                error = float(predicted != label)
            if not learn:
                for counts, g in zip(w.groups.values(), groups, strict=True):
                    counts.add_pair(g, predicted=predicted == self.positive, actual=actual)
        if learn:
            return
        for det in vs.concept.values():
            det.update(error)
        w.touch(pair.prediction_ts)
        if self.task == "binary" and score is not None and lab.estimate:
            w.estimate.add(score, predicted == self.positive)
        if w.n >= lab.window_pairs:
            self._close_pairs(vs, reports, requests)
