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
z-test between the best and the worst group.

**Error control** (:func:`gap_test`). A gap *breaches its tolerance* (e.g. TPR
gap above 0.1, impact ratio below 0.8) only when a one-sided test rejects
``H0: the true gap is within the tolerance`` at level ``alpha_window``: the
statistic is the best-minus-worst difference (or log ratio) minus the
tolerance, over its unpooled standard error on Agresti-Caffo adjusted counts
(one success and one failure added per group, so that rates of 0 or 1 keep a
finite error). The best and worst group are chosen after looking, so the
p-value is Bonferroni-corrected over the ``k (k - 1) / 2`` group pairs. Under
H0 the rejection rate per window is at most ``alpha_window`` (at the boundary,
true gap = tolerance; far lower for smaller gaps); the label path spends its
``alpha`` evenly over ``alpha_windows`` windows (``alpha_window = alpha /
alpha_windows``), so any run of that many windows has a false rejection with
probability at most ``alpha`` per reading. A raw gap above the tolerance is
not enough: at the minimum group size of 100 a gap of 0.1 between two groups
of equal rates is a 2-sigma event.

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

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special

from stream_monitor.windows.groups import GroupCounts

__all__ = ["FairnessValue", "GapTest", "Representation", "gap_test", "outcome_fairness", "representation"]


@dataclass(frozen=True, slots=True)
class FairnessValue:
    value: float
    n: int  # the smallest group that took part
    groups: tuple[str, str]  # (best, worst) group
    p_value: float = 1.0  # two-proportion z-test, best against worst group
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)  # (successes, size) of the best, then the worst group
    k: int = 2  # groups that took part


@dataclass(frozen=True, slots=True)
class GapTest:
    """The one-sided test of a gap against its tolerance; see the module docstring."""

    z: float  # standardized excess over the tolerance (> 0: beyond it)
    se: float  # of the difference, or of the log ratio
    p_value: float  # Bonferroni-corrected over the group pairs
    rejected: bool


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
    return float(2 * special.ndtr(-(abs(p1 - p2) / se)))  # 2 stats.norm.sf, bit for bit


def _spread(rates: Mapping[str, tuple[float, int]], ratio: bool) -> FairnessValue | None:
    if len(rates) < 2:
        return None
    hi = max(rates, key=lambda g: rates[g][0])
    lo = min(rates, key=lambda g: rates[g][0])
    n = min(k for _, k in rates.values())
    top, bottom = rates[hi][0], rates[lo][0]
    p = _two_proportion_p(top, rates[hi][1], bottom, rates[lo][1])
    counts = (round(top * rates[hi][1]), rates[hi][1], round(bottom * rates[lo][1]), rates[lo][1])
    if ratio:
        return FairnessValue(bottom / top if top > 0 else 1.0, n, (hi, lo), p, counts, len(rates))
    return FairnessValue(top - bottom, n, (hi, lo), p, counts, len(rates))


def gap_test(v: FairnessValue, tolerance: float, alpha_window: float, *, ratio: bool = False) -> GapTest:
    """Test ``H0: gap <= tolerance`` (difference) or ``H0: ratio >= tolerance`` (``ratio``).

    Examples
    --------
    >>> big = FairnessValue(0.3, 500, ("a", "b"), counts=(400, 500, 250, 500))
    >>> gap_test(big, 0.1, 1e-4).rejected, gap_test(big, 0.25, 1e-4).rejected
    (True, False)
    """
    x1, n1, x2, n2 = v.counts
    p1, p2 = (x1 + 1) / (n1 + 2), (x2 + 1) / (n2 + 2)  # Agresti-Caffo
    if ratio:
        se = math.sqrt((1 - p1) / (p1 * (n1 + 2)) + (1 - p2) / (p2 * (n2 + 2)))
        z = (math.log(tolerance) - math.log(p2 / p1)) / se
    else:
        se = math.sqrt(p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2))
        z = (p1 - p2 - tolerance) / se
    pairs = v.k * (v.k - 1) // 2
    p = min(1.0, pairs * float(special.ndtr(-z)))  # stats.norm.sf(z)
    return GapTest(z, se, p, p <= alpha_window)


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
    stat, p = _chisquare(counts, ref * n)
    shares = {name: float(c / n) for name, c in zip(g.groups, counts, strict=True)}
    ratios = {name: shares[name] / reference[name] for name in g.groups if reference.get(name, 0.0) > 0}
    return Representation(shares, ratios, float(stat), float(p), n)


def _chisquare(observed: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """``scipy.stats.chisquare(observed, expected)``, bit for bit: Pearson's statistic and
    its chi-square survival at ``k - 1`` degrees of freedom."""
    stat = float(((observed - expected) ** 2 / expected).sum())
    return stat, float(special.chdtrc(len(observed) - 1, stat))
