"""Fairness statistics of one window from per-group counts.

* representation: each group's share against the reference share, with a
  chi-square goodness-of-fit test of the counts and the ratio per group;
* outcome fairness (predictions): demographic parity difference (largest minus
  smallest positive-prediction rate) and disparate impact ratio (smallest over
  largest; the four-fifths rule is ``>= 0.8``);
* with labels: equal opportunity (TPR gap) and equalized odds (TPR and FPR
  gaps).

A group takes part only with at least ``min_group_size`` events (for the TPR
gap: actual positives; for the FPR gap: actual negatives); a metric with fewer
than two such groups is suppressed (``None``). Each result carries its sample
size (the smallest group that took part) and the p-value of a two-proportion
z-test between the best and the worst group, so that a policy can require the
gap to be real and not only large: at the minimum group size of 100 a gap of
0.1 between two groups of equal rates is a 2-sigma event.

Examples
--------
>>> from stream_monitor.windows.groups import GroupCounts
>>> g = GroupCounts(["a", "b", "other"], n=[500, 500, 0], positive=[200, 100, 0],
...                 tp=[0] * 3, fp=[0] * 3, fn=[0] * 3, tn=[0] * 3)
>>> r = outcome_fairness(g, min_group_size=100)
>>> round(r["disparate_impact_ratio"].value, 2), round(r["demographic_parity_difference"].value, 2)
(0.5, 0.2)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from stream_monitor.windows.groups import GroupCounts

__all__ = ["FairnessValue", "Representation", "outcome_fairness", "representation"]


@dataclass(frozen=True, slots=True)
class FairnessValue:
    value: float
    n: int  # the smallest group that took part
    groups: tuple[str, str]  # (best, worst) group
    p_value: float = 1.0  # two-proportion z-test, best against worst group


@dataclass(frozen=True, slots=True)
class Representation:
    shares: Mapping[str, float]
    ratios: Mapping[str, float]  # window share / reference share (groups with a reference share > 0)
    statistic: float
    p_value: float
    n: int


def _two_proportion_p(p1: float, n1: int, p2: float, n2: int) -> float:
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = float(np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)))
    if se == 0:
        return 1.0 if p1 == p2 else 0.0
    return float(2 * stats.norm.sf(abs(p1 - p2) / se))


def _spread(rates: Mapping[str, tuple[float, int]], ratio: bool) -> FairnessValue | None:
    if len(rates) < 2:
        return None
    hi = max(rates, key=lambda g: rates[g][0])
    lo = min(rates, key=lambda g: rates[g][0])
    n = min(k for _, k in rates.values())
    top, bottom = rates[hi][0], rates[lo][0]
    p = _two_proportion_p(top, rates[hi][1], bottom, rates[lo][1])
    if ratio:
        return FairnessValue(bottom / top if top > 0 else 1.0, n, (hi, lo), p)
    return FairnessValue(top - bottom, n, (hi, lo), p)


def outcome_fairness(g: GroupCounts, *, min_group_size: int) -> dict[str, FairnessValue]:
    """Parity and impact on predictions; TPR/FPR gaps when pairs were counted."""
    out: dict[str, FairnessValue] = {}
    rates = {name: (g.positive[i] / g.n[i], g.n[i]) for i, name in enumerate(g.groups) if g.n[i] >= min_group_size}
    for metric, as_ratio in (("demographic_parity_difference", False), ("disparate_impact_ratio", True)):
        v = _spread(rates, as_ratio)
        if v is not None:
            out[metric] = v
    tpr = {name: (g.tp[i] / (g.tp[i] + g.fn[i]), g.tp[i] + g.fn[i])
           for i, name in enumerate(g.groups) if g.tp[i] + g.fn[i] >= min_group_size}
    fpr = {name: (g.fp[i] / (g.fp[i] + g.tn[i]), g.fp[i] + g.tn[i])
           for i, name in enumerate(g.groups) if g.fp[i] + g.tn[i] >= min_group_size}
    for metric, rs in (("tpr_gap", tpr), ("fpr_gap", fpr)):
        v = _spread(rs, False)
        if v is not None:
            out[metric] = v
    return out


def representation(g: GroupCounts, reference: Mapping[str, float]) -> Representation | None:
    """Shares of the window's groups against ``reference`` shares (chi-square GOF)."""
    n = g.total
    if n == 0:
        return None
    counts = np.asarray(g.n, dtype=float)
    ref = np.asarray([reference.get(name, 0.0) for name in g.groups], dtype=float)
    if ref.sum() <= 0:
        return None
    # A group absent from the reference gets a small share so that its appearance counts.
    ref = np.maximum(ref / ref.sum(), 0.5 / max(n, 1))
    ref = ref / ref.sum()
    stat, p = stats.chisquare(counts, ref * n)
    shares = {name: float(c / n) for name, c in zip(g.groups, counts, strict=True)}
    ratios = {name: shares[name] / reference[name] for name in g.groups if reference.get(name, 0.0) > 0}
    return Representation(shares, ratios, float(stat), float(p), n)
