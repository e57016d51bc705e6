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
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.policy import decide_outcomes
from stream_monitor.decisions.request import ReferenceInfo, RetrainRequest, WindowInfo
from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.concept import build_concept, restore_concept
from stream_monitor.detectors.fairness import FairnessValue, gap_test, outcome_fairness, representation
from stream_monitor.detectors.psi import psi as psi_statistic
from stream_monitor.detectors.reading import Reading, label_reading
from stream_monitor.detectors.streaming_base import StreamingBase
from stream_monitor.events.models import LabelEvent, PredictionEvent
from stream_monitor.pipeline.drift_timeline import DriftTimeline
from stream_monitor.pipeline.join_bounds import WARM_DELAYS
from stream_monitor.pipeline.joins import JoinBuffer, Pair
from stream_monitor.pipeline.state import OutcomeMonitorState, OutcomeVersionState
from stream_monitor.specs.labels import HIGHER_IS_BETTER
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.groups import GroupCounts, group_of
from stream_monitor.windows.outcome_windows import PairWindow, PredictionWindow
from stream_monitor.windows.performance import MetricValue, PerformanceAccumulator, class_key

__all__ = ["OutcomeBatch", "OutcomeMonitor", "VersionOutcomes"]

OutcomeEvent = PredictionEvent | LabelEvent
_DEFAULT_LEARN = 2000  # pairs, when neither reference_performance nor learn_first_n is set


def _one_sided(excess: float, se: float) -> float:
    """p-value of ``H0: excess <= 0`` for an estimate with standard error ``se``."""
    if se > 0:
        return float(special.ndtr(-(excess / se)))  # stats.norm.sf, bit for bit
    return 0.0 if excess > 0 else 1.0


def _positive_key(value: str) -> str:
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


class OutcomeMonitor:
    """The label path of one model; see the module docstring.

    Parameters
    ----------
    spec
        The model's configuration (``labels`` and/or ``fairness`` set).
    input_drift
        Whether the inputs of a version are in drift (from the drift path).
    """

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
        self.positive = _positive_key(lab.positive_label) if lab else "1"
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
            label = _positive_key(pair.label) if isinstance(pair.label, str) else class_key(pair.label)
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

    # -- closing windows -----------------------------------------------------------------

    def _close_pairs(self, vs: VersionOutcomes, reports: list[WindowReport], requests: list[RetrainRequest]) -> None:
        lab = self.labels
        assert lab is not None
        w = vs.pairs
        metrics = w.performance.metrics()
        readings: list[Reading] = []
        drops: dict[str, float] = {}
        ref = vs.reference or {}
        judged = [m for m in (lab.metrics or list(ref)) if m in ref and m in metrics]
        for name in judged:
            cur, r = metrics[name], ref[name]
            higher = name in HIGHER_IS_BETTER
            drop = (r.value - cur.value) if higher else (
                abs(cur.value) - abs(r.value) if name == "bias" else cur.value - r.value)
            drops[name] = drop
            floor = lab.min_drop.get(name)
            tolerated = r.value - (floor or 0.0) if higher else r.value + (floor or 0.0)
            readings.append(label_reading("performance", name, name, cur.value, r.value, tolerated, cur.n,
                                           p_value=_one_sided(drop, math.hypot(cur.se, r.se)), effect=drop,
                                           effect_floor=floor, family="performance", se=cur.se))
        est = w.estimate.accuracy() if (w.estimate.n == w.n and "accuracy" in metrics) else None
        if est is not None:
            value, se = est
            realized = metrics["accuracy"].value
            readings.append(label_reading("estimate", "accuracy", "realized_vs_estimated", realized, value, value,
                                           w.n, p_value=_one_sided(value - realized, se), family="performance",
                                           se=se))
        for name, det in vs.concept.items():
            fired_n = det.detections - vs.marks.get(name, 0)
            vs.marks[name] = det.detections
            readings.append(label_reading("concept", name, "error_rate", float(fired_n), None, 0.5, w.n))
        fair = self.fairness
        if fair is not None and self.task != "regression":
            for attr, counts in w.groups.items():
                values = outcome_fairness(counts, min_group_size=fair.min_group_size)
                for metric, limit in (("tpr_gap", fair.tpr_gap_max), ("fpr_gap", fair.fpr_gap_max)):
                    v = values.get(metric)
                    if v is not None:
                        readings.append(self._gap_reading(attr, metric, v, limit))
        info = WindowInfo(index=w.index, start=w.start, end=w.end, events=w.n)
        report, request = decide_outcomes(
            readings, self.spec, vs.pair_policy, model_version=vs.version, source="pairs", window=info,
            minimum=lab.min_pairs, reference=self._perf_reference(vs), params_hash=self.params_hash,
            inputs_drift=self._drifting(vs.version), incarnation=vs.incarnation,
        )
        vs.last_pairs = report
        vs.metrics = metrics
        vs.drops = drops
        self._compare(vs, "pairs")
        reports.append(report)
        if request is not None:
            requests.append(request)
        vs.pairs = self._empty_pairs(w.index + 1)

    def _close_predictions(self, vs: VersionOutcomes, reports: list[WindowReport],
                           requests: list[RetrainRequest]) -> None:
        w = vs.preds
        fair, lab = self.fairness, self.labels
        readings: list[Reading] = []
        shares: dict[str, dict[str, float]] = {}
        if fair is not None:
            for attr, counts in w.groups.items():
                rep = representation(counts, vs.shares.get(attr, {}))
                if rep is not None:
                    shares[attr] = dict(rep.shares)
                    lo, hi = fair.share_ratio_min, 1 / fair.share_ratio_min
                    for g, ratio in rep.ratios.items():
                        # The effect: how far the share moved as a factor (either way); the chi-square
                        # approximation needs an expected count of 5, below it no effect is measured.
                        expected = vs.shares[attr][g] * rep.n
                        factor = (max(ratio, 1 / ratio) if ratio > 0 else math.inf) if expected >= 5 else None
                        readings.append(label_reading("representation", "share_ratio", f"{attr}={g}", ratio,
                                                       vs.shares[attr][g], lo if ratio < 1 else hi,
                                                       counts.n[counts.index(g)], p_value=rep.p_value,
                                                       effect=factor, effect_floor=hi, family="representation",
                                                       attribute=attr))
                if self.task == "regression":
                    continue
                values = outcome_fairness(counts, min_group_size=fair.min_group_size)
                di = values.get("disparate_impact_ratio")
                if di is not None:
                    readings.append(self._gap_reading(attr, "disparate_impact_ratio", di, fair.disparate_impact_min,
                                                      ratio=True))
                dp = values.get("demographic_parity_difference")
                if dp is not None:
                    readings.append(self._gap_reading(attr, "demographic_parity_difference", dp,
                                                      fair.parity_difference_max))
        estimates: dict[str, tuple[float, float, float]] = {}
        z = float(special.ndtri(0.975))
        for name, got in (("accuracy", w.estimate.accuracy()), ("roc_auc", w.estimate.roc_auc())):
            if got is None:
                continue
            value, se = got
            estimates[name] = (value, value - z * se, value + z * se)
            ref = (vs.reference or {}).get(name)
            if ref is not None and lab is not None:
                floor = lab.min_drop.get(name)
                drop = ref.value - value
                readings.append(label_reading("estimate", f"estimated_{name}", f"estimated_{name}", value,
                                               ref.value, ref.value - (floor or 0.0), w.estimate.n,
                                               p_value=_one_sided(drop, math.hypot(se, ref.se)), effect=drop,
                                               effect_floor=floor, family="performance", se=se))
        info = WindowInfo(index=w.index, start=w.start, end=w.end, events=w.n)
        report, request = decide_outcomes(
            readings, self.spec, vs.pred_policy, model_version=vs.version, source="predictions", window=info,
            minimum=self.spec.detectors.min_samples, reference=self._share_reference(vs),
            params_hash=self.params_hash, incarnation=vs.incarnation,
        )
        vs.last_preds = report
        vs.estimates = estimates
        vs.group_shares = shares
        vs.histogram = list(w.histogram) if sum(w.histogram) else None
        self._compare(vs, "predictions")
        reports.append(report)
        if request is not None:
            requests.append(request)
        vs.preds = PredictionWindow.empty(w.index + 1, self.declared, bins=self.bins)

    def _gap_reading(self, attr: str, metric: str, v: FairnessValue, tolerance: float, *,
                     ratio: bool = False) -> Reading:
        """A group gap with the p-value of its test against ``tolerance`` (family ``fairness``)."""
        fair = self.fairness
        assert fair is not None
        test = gap_test(v, tolerance, fair.alpha / fair.alpha_windows, ratio=ratio)
        return label_reading("fairness", metric, f"{attr}={v.groups[1]}", v.value, None, tolerance, v.n,
                             p_value=test.p_value, family="fairness", attribute=attr, se=test.se)

    def _compare(self, vs: VersionOutcomes, source: str) -> None:
        """Champion/challenger: differences to every other live version's last closed window."""
        lab = self.labels
        if lab is not None and not lab.compare_versions:
            return
        for other in self.versions.values():
            if other is vs:
                continue
            if source == "pairs":
                for name, mv in vs.metrics.items():
                    if name in other.metrics:
                        vs.differences[(other.version, name)] = mv.value - other.metrics[name].value
                        other.differences[(vs.version, name)] = other.metrics[name].value - mv.value
            elif vs.histogram is not None and other.histogram is not None:
                psi = float(psi_statistic(np.asarray(other.histogram, dtype=float),
                                          np.asarray(vs.histogram, dtype=float)))
                vs.differences[(other.version, "score_psi")] = psi
                other.differences[(vs.version, "score_psi")] = psi
        live = set(self.versions)
        for v in self.versions.values():
            v.differences = {k: x for k, x in v.differences.items() if k[0] in live}

    def _perf_reference(self, vs: VersionOutcomes) -> ReferenceInfo:
        lab = self.labels
        assert lab is not None
        ref = vs.reference or {}
        fp = hashlib.sha256(repr(sorted((k, round(v.value, 9)) for k, v in ref.items())).encode()).hexdigest()[:16]
        if lab.reference_performance:
            return ReferenceInfo(kind="static", source="labels.reference_performance", fingerprint=fp, rows=0)
        rows = next(iter(ref.values())).n if ref else 0
        return ReferenceInfo(kind="learned", source=f"learned from the labelled predictions among the first "
                             f"{self.learn_n} kept before any input drift", fingerprint=fp, rows=rows)

    def _share_reference(self, vs: VersionOutcomes) -> ReferenceInfo:
        fp = hashlib.sha256(repr(sorted((a, sorted(s.items())) for a, s in vs.shares.items())).encode())
        configured = self.fairness is not None and bool(self.fairness.reference_shares)
        rows = 0 if configured or self.fairness is None else self.fairness.learn_first_n
        return ReferenceInfo(kind="static" if configured else "learned",
                             source="fairness.reference_shares" if configured else "learned group shares",
                             fingerprint=fp.hexdigest()[:16], rows=rows)

    # -- persistence ---------------------------------------------------------------------

    def to_state(self) -> OutcomeMonitorState:
        versions = {}
        for v, s in self.versions.items():
            versions[v] = OutcomeVersionState(
                preds=s.preds.to_state(),
                pairs=s.pairs.to_state(),
                reference={k: (m.value, m.se, m.n) for k, m in s.reference.items()} if s.reference else None,
                learning=s.learning.to_state() if s.learning is not None else None,
                shares=s.shares,
                share_learning=s.share_learning,
                concept={k: d.to_state() for k, d in s.concept.items()},
                marks=s.marks,
                pair_policy=s.pair_policy,
                pred_policy=s.pred_policy,
                counts=(s.predictions, s.labelled),
                reference_period=(s.ref_admitted, s.ref_last_ts, s.ref_joined),
                incarnation=s.incarnation,
            )
        return OutcomeMonitorState(params=self.params_hash, versions=versions,
                                   join=self.join.to_state() if self.join is not None else None)

    def load_state(self, data: OutcomeMonitorState) -> bool:
        """Restore from :meth:`to_state`; ``False`` (fresh state kept) when the config changed."""
        if data.params != self.params_hash:
            return False
        self.versions = {}
        for v, d in data.versions.items():
            s = VersionOutcomes(v, PredictionWindow.from_state(d.preds), PairWindow.from_state(d.pairs))
            s.reference = {k: MetricValue(*x) for k, x in d.reference.items()} if d.reference else None
            s.learning = PerformanceAccumulator.from_state(d.learning) if d.learning else None
            s.shares = {a: dict(sh) for a, sh in d.shares.items()}
            s.share_learning = copy.deepcopy(d.share_learning)
            s.concept = {k: restore_concept(x) for k, x in d.concept.items()}
            s.marks = dict(d.marks)
            s.pair_policy, s.pred_policy = copy.deepcopy(d.pair_policy), copy.deepcopy(d.pred_policy)
            s.predictions, s.labelled = d.counts
            s.ref_admitted, s.ref_last_ts, s.ref_joined = d.reference_period
            s.incarnation = d.incarnation
            self.versions[v] = s
        if self.join is not None and data.join is not None:
            self.join.load_state(data.join)
        return True

