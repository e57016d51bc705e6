"""Mergeable performance accumulators on joined (prediction, label) pairs.

Everything is counts and sums, O(classes x bins), never the pairs themselves:

* classification: a confusion matrix over at most ``max_classes`` classes
  (others fold into ``other``); per class, score-bin counts of positives and
  negatives (one-vs-rest ROC AUC and calibration, on logit-spaced bins) and the
  sums of the log loss and its square;
* regression: sums of the error, its square and fourth power, the absolute
  error and the absolute percentage error (and its square).

:meth:`PerformanceAccumulator.metrics` returns each metric with its standard
error (binomial, Hanley-McNeil for AUC, delta method for RMSE), which the
policy uses for a confidence interval that accounts for the window size.

Examples
--------
>>> acc = PerformanceAccumulator.empty("binary", bins=10)
>>> acc.add_binary(True, 0.9, True)
>>> acc.add_binary(False, 0.2, True)
>>> acc.add_binary(False, 0.1, False)
>>> m = acc.metrics()
>>> round(m["accuracy"].value, 3), round(m["recall"].value, 3), m["accuracy"].n
(0.667, 0.5, 3)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from stream_monitor.windows.metric_values import (
    MetricValue,
    binned_auc,
    binomial,
    hanley_mcneil_se,
    mean_se,
    score_bin,
)
from stream_monitor.windows.persist import Persistent
from stream_monitor.windows.state import PerformanceState

__all__ = ["PerformanceAccumulator"]

_ERROR_LIMIT = 1e70

_EPS = 1e-15
OTHER_CLASS = "__other__"


@dataclass(slots=True)
class PerformanceAccumulator(Persistent[PerformanceState]):
    """Performance statistics of one window; ``task`` is binary, multiclass or regression."""

    State = PerformanceState
    task: str
    bins: int
    classes: list[str] = field(default_factory=list)  # confusion matrix order
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> predicted -> count
    pos_bins: dict[str, list[float]] = field(default_factory=dict)  # class -> score-bin counts of label == class
    neg_bins: dict[str, list[float]] = field(default_factory=dict)
    score_sum: dict[str, list[float]] = field(default_factory=dict)  # class -> sum of scores per bin
    ll_n: int = 0
    ll_sum: float = 0.0
    ll_sq: float = 0.0
    n: int = 0
    sums: dict[str, float] = field(default_factory=dict)  # regression sums
    max_classes: int = 20

    @classmethod
    def empty(cls, task: str, *, bins: int = 50, max_classes: int = 20) -> PerformanceAccumulator:
        return cls(task=task, bins=bins, max_classes=max_classes)

    # -- updates -----------------------------------------------------------------------

    def _class(self, key: str) -> str:
        if key in self.confusion or len(self.classes) < self.max_classes:
            if key not in self.confusion:
                self.classes.append(key)
                self.confusion[key] = {}
            return key
        return OTHER_CLASS

    def _count(self, label: str, predicted: str) -> None:
        label, predicted = self._class(label), self._class(predicted)
        row = self.confusion.setdefault(label, {})
        row[predicted] = row.get(predicted, 0) + 1

    def _bin(self, cls: str, score: float, positive: bool) -> None:
        b = score_bin(self.bins, score)
        for store in (self.pos_bins, self.neg_bins, self.score_sum):
            store.setdefault(cls, [0.0] * self.bins)
        (self.pos_bins if positive else self.neg_bins)[cls][b] += 1
        self.score_sum[cls][b] += score

    def _log_loss(self, p_true: float) -> None:
        ll = -math.log(min(max(p_true, _EPS), 1 - _EPS))
        self.ll_n += 1
        self.ll_sum += ll
        self.ll_sq += ll * ll

    def add_binary(self, predicted: bool, score: float | None, label: bool) -> None:
        """One pair of a binary classifier: predicted class, positive-class score, label."""
        self.n += 1
        self._count("1" if label else "0", "1" if predicted else "0")
        if score is not None:
            self._bin("1", score, label)
            self._log_loss(score if label else 1 - score)

    def add_multiclass(self, predicted: str, scores: Mapping[str, float] | None, label: str) -> None:
        """One pair of a multiclass classifier; ``scores`` are class probabilities (optional)."""
        self.n += 1
        self._count(label, predicted)
        if scores:
            for cls, s in scores.items():
                if cls in self.confusion or len(self.pos_bins) < self.max_classes:
                    self._bin(cls, float(s), cls == label)
            self._log_loss(float(scores.get(label, 0.0)))

    def add_regression(self, predicted: float, label: float) -> None:
        self.n += 1
        # Errors are clipped for the sums: e**4 of a finite 1e100 raises OverflowError, and a
        # window's sums of e**4 stay finite up to 1e8 pairs at 1e70.
        e = min(max(predicted - label, -_ERROR_LIMIT), _ERROR_LIMIT)
        s = self.sums
        for k, v in (("e", e), ("e2", e * e), ("e4", e**4), ("ae", abs(e))):
            s[k] = s.get(k, 0.0) + v
        if label != 0:
            ape = min(abs(e / label), _ERROR_LIMIT)
            s["ape"] = s.get("ape", 0.0) + ape
            s["ape2"] = s.get("ape2", 0.0) + ape * ape
            s["n_ape"] = s.get("n_ape", 0.0) + 1

    # -- metrics -----------------------------------------------------------------------

    def metrics(self) -> dict[str, MetricValue]:
        """Every metric the window supports, with its standard error."""
        if self.n == 0:
            return {}
        if self.task == "regression":
            return self._regression()
        return self._classification()

    def _regression(self) -> dict[str, MetricValue]:
        s, n = self.sums, self.n
        out: dict[str, MetricValue] = {}
        mae, mae_se = mean_se(s["ae"], s["e2"], n)
        bias, bias_se = mean_se(s["e"], s["e2"], n)
        mse, mse_se = mean_se(s["e2"], s["e4"], n)
        rmse = math.sqrt(mse)
        out["mae"] = MetricValue(mae, mae_se, n)
        out["bias"] = MetricValue(bias, bias_se, n)
        out["rmse"] = MetricValue(rmse, mse_se / (2 * rmse) if rmse > 0 else 0.0, n)
        n_ape = int(s.get("n_ape", 0))
        if n_ape:
            mape, mape_se = mean_se(s["ape"], s["ape2"], n_ape)
            out["mape"] = MetricValue(mape, mape_se, n_ape)
        return out

    def _classification(self) -> dict[str, MetricValue]:
        out: dict[str, MetricValue] = {}
        classes = list(self.confusion)
        diag = sum(self.confusion[c].get(c, 0) for c in classes)
        acc = binomial(diag, self.n)
        assert acc is not None
        out["accuracy"] = acc
        per_class = classes if self.task == "multiclass" else ["1"]
        precs, recs, f1s = [], [], []
        for c in per_class:
            tp = self.confusion.get(c, {}).get(c, 0)
            actual = sum(self.confusion.get(c, {}).values())
            predicted = sum(row.get(c, 0) for row in self.confusion.values())
            precs.append(binomial(tp, predicted))
            recs.append(binomial(tp, actual))
            denom = actual + predicted
            f1s.append(binomial(2 * tp, denom) if denom else None)
        for name, vals in (("precision", precs), ("recall", recs), ("f1", f1s)):
            got = [v for v in vals if v is not None]
            if got:  # macro average for multiclass
                out[name] = MetricValue(
                    float(np.mean([v.value for v in got])),
                    math.sqrt(sum(v.se**2 for v in got)) / len(got),
                    min(v.n for v in got),
                )
        aucs = []
        for c in self.pos_bins if self.task == "multiclass" else ["1"]:
            if c not in self.pos_bins:
                continue
            pos, neg = np.asarray(self.pos_bins[c]), np.asarray(self.neg_bins[c])
            auc = binned_auc(pos, neg)
            if auc is not None:
                aucs.append(MetricValue(auc, hanley_mcneil_se(auc, pos.sum(), neg.sum()),
                                        int(min(pos.sum(), neg.sum()))))
        if aucs:
            out["roc_auc"] = MetricValue(float(np.mean([a.value for a in aucs])),
                                         math.sqrt(sum(a.se**2 for a in aucs)) / len(aucs), min(a.n for a in aucs))
        if self.ll_n:
            ll, ll_se = mean_se(self.ll_sum, self.ll_sq, self.ll_n)
            out["log_loss"] = MetricValue(ll, ll_se, self.ll_n)
        if self.task == "binary" and "1" in self.pos_bins:
            out["calibration_error"] = self._ece("1")
        return out

    def _ece(self, cls: str) -> MetricValue:
        """Expected calibration error over the score bins, and a binomial standard error."""
        pos, neg = np.asarray(self.pos_bins[cls]), np.asarray(self.neg_bins[cls])
        n_b = pos + neg
        n = float(n_b.sum())
        used = n_b > 0
        rate = pos[used] / n_b[used]
        conf = np.asarray(self.score_sum[cls])[used] / n_b[used]
        w = n_b[used] / n
        ece = float((w * np.abs(rate - conf)).sum())
        se = float(math.sqrt((w * w * rate * (1 - rate) / n_b[used]).sum()))
        return MetricValue(ece, se, int(n))

    # -- merge and state ---------------------------------------------------------------

    def merge(self, other: PerformanceAccumulator) -> PerformanceAccumulator:
        out = copy.deepcopy(self)
        for label, row in other.confusion.items():
            for pred, k in row.items():
                lab, pr = out._class(label), out._class(pred)
                r = out.confusion.setdefault(lab, {})
                r[pr] = r.get(pr, 0) + k
        for src, dst in ((other.pos_bins, out.pos_bins), (other.neg_bins, out.neg_bins),
                         (other.score_sum, out.score_sum)):
            for c, counts in src.items():
                base = dst.setdefault(c, [0.0] * out.bins)
                dst[c] = [a + b for a, b in zip(base, counts, strict=True)]
        out.ll_n += other.ll_n
        out.ll_sum += other.ll_sum
        out.ll_sq += other.ll_sq
        out.n += other.n
        for name, total in other.sums.items():
            out.sums[name] = out.sums.get(name, 0.0) + total
        return out

