"""Closing the label path's windows: their readings, judged by the policy.

A pair window (joined predictions and labels) reads its performance against
the reference, its realized against its estimated accuracy, the error-stream
concept detectors and the label-based group gaps; a prediction window reads the
groups' representation against their reference shares, the prediction-based
group gaps and the label-free estimate. Each reading carries its p-value and
family (:func:`~stream_monitor.detectors.reading.label_reading`);
:func:`~stream_monitor.decisions.policy.decide_outcomes` judges the window. A
closed window also updates the champion/challenger differences between versions.
:class:`OutcomeWindows` is the part of
:class:`~stream_monitor.pipeline.label_monitor.OutcomeMonitor` that does this.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from scipy import special

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.policy import decide_outcomes
from stream_monitor.decisions.request import ReferenceInfo, RetrainRequest, WindowInfo
from stream_monitor.detectors.distances import psi as psi_statistic
from stream_monitor.detectors.fairness import FairnessValue, gap_test, outcome_fairness, representation
from stream_monitor.detectors.reading import Reading, label_reading
from stream_monitor.pipeline.label_versions import OutcomeVersions, VersionOutcomes
from stream_monitor.specs.labels import HIGHER_IS_BETTER
from stream_monitor.windows.metric_values import MetricValue
from stream_monitor.windows.outcome_windows import PredictionWindow

__all__ = ["OutcomeWindows"]


def _one_sided(excess: float, se: float) -> float:
    """p-value of ``H0: excess <= 0`` for an estimate with standard error ``se``."""
    if se > 0:
        return float(special.ndtr(-(excess / se)))  # stats.norm.sf, bit for bit
    return 0.0 if excess > 0 else 1.0



class OutcomeWindows(OutcomeVersions):
    """Closes a version's windows and judges them (the base of ``OutcomeMonitor``)."""

    # -- closing windows -----------------------------------------------------------------

    def _close_pairs(self, vs: VersionOutcomes, reports: list[WindowReport], requests: list[RetrainRequest]) -> None:
        lab = self.labels
        assert lab is not None
        w = vs.pairs
        metrics = w.performance.metrics()
        readings, drops = self._performance_readings(vs, metrics)
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

    def _performance_readings(self, vs: VersionOutcomes,
                              metrics: dict[str, MetricValue]) -> tuple[list[Reading], dict[str, float]]:
        """A pair window's performance against the reference, and its realized against its estimated accuracy."""
        lab = self.labels
        assert lab is not None
        w = vs.pairs
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
        return readings, drops

    def _close_predictions(self, vs: VersionOutcomes, reports: list[WindowReport],
                           requests: list[RetrainRequest]) -> None:
        w = vs.preds
        readings, shares = self._group_readings(vs)
        estimates, estimated = self._estimates(vs)
        readings.extend(estimated)
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

    def _group_readings(self, vs: VersionOutcomes) -> tuple[list[Reading], dict[str, dict[str, float]]]:
        """A prediction window's group readings: representation against the reference shares
        (with the window's shares), and the prediction-based group gaps."""
        w = vs.preds
        fair = self.fairness
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
        return readings, shares

    def _estimates(self, vs: VersionOutcomes) -> tuple[dict[str, tuple[float, float, float]], list[Reading]]:
        """A prediction window's label-free estimates (metric -> value and 95% bounds), with the
        reading of each against the reference performance."""
        w = vs.preds
        lab = self.labels
        readings: list[Reading] = []
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
        return estimates, readings

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

