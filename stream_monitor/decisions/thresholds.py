"""Multiple-testing correction, in one place for every p-value test.

With F features each tested at ``alpha``, some feature "drifts" in almost every
window by chance. Bonferroni controls the family-wise error rate (any false
alarm); Benjamini-Hochberg controls the false discovery rate and keeps more
power when several features truly move.

Examples
--------
>>> reject([0.001, 0.02, 0.04, 0.5], 0.05, "bonferroni")
([True, False, False, False], 0.0125)
>>> reject([0.001, 0.02, 0.04, 0.5], 0.05, "benjamini-hochberg")
([True, True, False, False], 0.025)
>>> reject([0.001, 0.02, 0.04, 0.5], 0.05, "none")
([True, True, True, False], 0.05)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["Correction", "reject"]

Correction = Literal["bonferroni", "benjamini-hochberg", "none"]


def reject(p_values: Sequence[float], alpha: float, method: Correction) -> tuple[list[bool], float]:
    """Decide which hypotheses to reject; also return the effective per-test threshold.

    A p-value is rejected when it is at or below the returned threshold.
    """
    m = len(p_values)
    if m == 0:
        return [], alpha
    if method == "none":
        threshold = alpha
    elif method == "bonferroni":
        threshold = alpha / m
    else:
        ranked = sorted(p_values)
        threshold = 0.0
        for k, p in enumerate(ranked, start=1):
            if p <= k / m * alpha:
                threshold = k / m * alpha
    return [p <= threshold for p in p_values], threshold
