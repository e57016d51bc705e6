"""The two label-path windows of one model version: predictions and joined pairs.

* :class:`PredictionWindow` counts predictions: per-group counts of each
  fairness attribute, a score histogram (champion/challenger comparisons) and
  the confidence-based estimate of a calibrated binary classifier (CBPE): each
  prediction is right with probability ``s`` (predicted positive) or ``1 - s``,
  so the expected accuracy is their mean and its standard error
  ``sqrt(sum p (1 - p)) / n``; the expected ROC AUC comes from the score bins
  weighted by ``s`` (positives) and ``1 - s`` (negatives).
* :class:`PairWindow` counts joined pairs: a performance accumulator,
  per-group confusion counts and the same estimate on the same events, so the
  estimate can be checked against the realized performance.

Both are plain counts and sums: O(groups + bins), JSON-serialisable.

Examples
--------
>>> w = PredictionWindow.empty(0, {}, bins=10)
>>> w.add_estimate(0.9, True)
>>> w.add_estimate(0.2, False)
>>> round(w.estimate.accuracy()[0], 3)
0.85
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from stream_monitor.windows.groups import GroupCounts
from stream_monitor.windows.metric_values import binned_auc, hanley_mcneil_se, score_bin
from stream_monitor.windows.performance import PerformanceAccumulator
from stream_monitor.windows.persist import Persistent
from stream_monitor.windows.state import EstimateState, PairWindowState, PredictionWindowState

__all__ = ["Estimate", "PairWindow", "PredictionWindow"]


@dataclass(slots=True)
class Estimate(Persistent[EstimateState]):
    """Expected accuracy and ROC AUC of a calibrated binary classifier, without labels."""

    State = EstimateState
    bins: int
    n: int = 0
    p_sum: float = 0.0
    pq_sum: float = 0.0
    pos: list[float] = field(default_factory=list)
    neg: list[float] = field(default_factory=list)

    def add(self, score: float, predicted: bool) -> None:
        if not self.pos:
            self.pos, self.neg = [0.0] * self.bins, [0.0] * self.bins
        p = score if predicted else 1.0 - score
        self.n += 1
        self.p_sum += p
        self.pq_sum += p * (1.0 - p)
        b = score_bin(self.bins, score)
        self.pos[b] += score
        self.neg[b] += 1.0 - score

    def accuracy(self) -> tuple[float, float] | None:
        """(expected accuracy, its standard error)."""
        if self.n == 0:
            return None
        return self.p_sum / self.n, math.sqrt(self.pq_sum) / self.n

    def roc_auc(self) -> tuple[float, float] | None:
        if self.n == 0:
            return None
        pos, neg = np.asarray(self.pos), np.asarray(self.neg)
        auc = binned_auc(pos, neg)
        if auc is None or pos.sum() < 1 or neg.sum() < 1:
            return None
        return auc, hanley_mcneil_se(auc, float(pos.sum()), float(neg.sum()))



def _span(start: float | None, end: float | None, ts: float) -> tuple[float, float]:
    return (ts if start is None else min(start, ts)), (ts if end is None else max(end, ts))


@dataclass(slots=True)
class PredictionWindow(Persistent[PredictionWindowState]):
    State = PredictionWindowState
    index: int
    groups: dict[str, GroupCounts]
    estimate: Estimate
    histogram: list[float]
    n: int = 0
    start: float | None = None
    end: float | None = None

    @classmethod
    def empty(cls, index: int, declared: Mapping[str, Sequence[str]], *, bins: int) -> PredictionWindow:
        return cls(index, {a: GroupCounts.empty(gs) for a, gs in declared.items()}, Estimate(bins), [0.0] * bins)

    def add(self, ts: float, groups: Sequence[str], positive: bool, score: float | None) -> None:
        self.n += 1
        self.start, self.end = _span(self.start, self.end, ts)
        for counts, g in zip(self.groups.values(), groups, strict=True):
            counts.add(g, positive=positive)
        if score is not None:
            self.histogram[score_bin(len(self.histogram), score)] += 1

    def add_estimate(self, score: float, predicted: bool) -> None:
        self.estimate.add(score, predicted)



@dataclass(slots=True)
class PairWindow(Persistent[PairWindowState]):
    State = PairWindowState
    index: int
    performance: PerformanceAccumulator
    groups: dict[str, GroupCounts]
    estimate: Estimate
    start: float | None = None
    end: float | None = None

    @classmethod
    def empty(cls, index: int, task: str, declared: Mapping[str, Sequence[str]], *, bins: int,
              max_classes: int) -> PairWindow:
        return cls(index, PerformanceAccumulator.empty(task, bins=bins, max_classes=max_classes),
                   {a: GroupCounts.empty(gs) for a, gs in declared.items()}, Estimate(bins))

    @property
    def n(self) -> int:
        return self.performance.n

    def touch(self, ts: float) -> None:
        self.start, self.end = _span(self.start, self.end, ts)

