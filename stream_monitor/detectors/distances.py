"""Distances between the reference's and the window's shares on the same bins.

Each distance takes two count vectors on the same bins (reference, window) and
is compared with a threshold (there is no p-value). All are vectorised over
leading axes of ``window``, which is how thresholds are calibrated on many
resampled windows at once.

Jensen-Shannon (:func:`js_distance`)
    ``JS(p, q) = sqrt((KL(p || m) + KL(q || m)) / 2)`` with ``m = (p + q) / 2``
    and logarithms in base 2, so the distance lies in [0, 1]: 0 for identical
    shares, 1 for disjoint support. Unlike PSI it needs no epsilon for empty
    bins and is a true metric. Works on numeric bins and on category counts alike.
Hellinger (:func:`hellinger`)
    ``H(p, q) = sqrt(1 - sum_i sqrt(p_i q_i))``, in [0, 1]. It is bounded,
    symmetric and, like Jensen-Shannon, needs no epsilon for empty bins; it
    weighs changes in rare bins less than PSI does, which makes it steadier on
    small windows.
Population Stability Index (:func:`psi`)
    ``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)`` with ``p`` the reference shares
    and ``q`` the window shares. Empty bins are floored at ``epsilon`` so the
    log stays finite. Fine histogram bins are first pooled into ``bins`` groups
    of roughly equal reference mass (:func:`coarsen`): PSI on 50 sparse bins is
    dominated by noise, the customary 10 bins are not. Rules of thumb (Siddiqi
    2006): < 0.1 stable, 0.1-0.2 moderate, > 0.2 significant.
Wasserstein-1 (:func:`wasserstein_binned`), in units of the reference spread
    W1 is the area between the two CDFs. Both CDFs are known at the reference
    bin edges; each bin's mass is placed at its midpoint, with the outer bins
    closed by the reference minimum and maximum (window values outside that
    range land in the outer bins, and the out-of-range rate reports them).
    Dividing by the reference standard deviation makes the number comparable
    across features: 0.1 is about the displacement of a 0.1-sigma mean shift.
Share of unseen categories (:func:`unseen_share`)
    How much more of the window falls outside the reference's listed
    categories than the reference itself did. The last bin of a categorical
    accumulator pools every value that is not one of the reference's listed
    categories; the reference's own last bin holds its pooled rare categories.
    The statistic is the excess share ``max(0, q_other - p_other)``: a new
    category taking 5% of the traffic gives about 0.05, whatever the
    reference's long tail was.

Examples
--------
>>> import numpy as np
>>> ref = np.array([100, 100, 100, 100])
>>> float(js_distance(ref, ref)), float(hellinger(ref, ref))
(0.0, 0.0)
>>> round(float(js_distance(ref, np.array([0, 0, 50, 50]))), 4)
0.5579
>>> float(js_distance(np.array([10, 0]), np.array([0, 10])))
1.0
>>> round(float(hellinger(ref, np.array([0, 0, 50, 50]))), 4)
0.5412
>>> round(psi(ref, ref), 6)
0.0
>>> round(psi(ref, np.array([40, 40, 160, 160])), 3)
0.416
>>> edges = np.array([1.0, 2.0, 3.0])
>>> float(wasserstein_binned(ref, ref, edges, 0.0, 4.0, 1.0))
0.0
>>> float(wasserstein_binned(ref, np.array([0, 100, 100, 200]), edges, 0.0, 4.0, 1.0))
0.75
>>> float(unseen_share(np.array([500, 400, 100]), np.array([50, 40, 10])))
0.0
>>> round(float(unseen_share(np.array([500, 400, 100]), np.array([35, 35, 30]))), 3)
0.2
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "PSI_EPSILON", "bin_midpoints", "coarse_groups", "coarse_starts", "coarsen", "floored_shares", "hellinger",
    "js_distance", "psi", "psi_against", "shares", "unseen_share", "wasserstein_binned",
]

# The floor of PSI's shares: keeps the logarithm of an empty bin finite.
PSI_EPSILON = 1e-4


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts -> shares along the last axis (all-zero rows stay zero)."""
    c = np.asarray(counts, dtype=float)
    total = c.sum(axis=-1, keepdims=True)
    out: np.ndarray = np.divide(c, total, out=np.zeros_like(c), where=total > 0)
    return out


def _kl_to_mid(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    ratio = np.divide(a, m, out=np.ones_like(a), where=a > 0)
    kl: np.ndarray = np.sum(a * np.log2(ratio), axis=-1)
    return kl


def js_distance(reference: np.ndarray, window: np.ndarray) -> np.ndarray | float:
    """Jensen-Shannon distance (base 2) between two count vectors on the same bins."""
    p = shares(reference)
    q = shares(window)
    p = np.broadcast_to(p, q.shape)
    m = (p + q) / 2
    js2 = (_kl_to_mid(p, m) + _kl_to_mid(q, m)) / 2
    out = np.sqrt(np.clip(js2, 0.0, 1.0))
    return float(out) if out.ndim == 0 else out


def hellinger(reference: np.ndarray, window: np.ndarray) -> np.ndarray | float:
    """Hellinger distance between two count vectors on the same bins."""
    p = shares(reference)
    q = shares(window)
    bc = np.sum(np.sqrt(p * q), axis=-1)  # Bhattacharyya coefficient
    out = np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))
    return float(out) if out.ndim == 0 else out


def coarse_groups(reference: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The first fine bin of each pooled group and the reference pooled into the groups.

    ``None`` when the reference has no more than ``bins`` bins (no pooling is needed).
    """
    if reference.size <= bins:
        return None
    cum = np.cumsum(reference) / max(reference.sum(), 1)
    cuts = np.searchsorted(cum, np.linspace(0, 1, bins + 1)[1:-1], side="left") + 1
    starts = np.unique(np.concatenate([[0], cuts[cuts < reference.size]]))
    return starts, np.add.reduceat(reference, starts)


def coarse_starts(reference: np.ndarray, bins: int) -> np.ndarray | None:
    """First fine bin of each pooled group (``None`` when no pooling is needed)."""
    groups = coarse_groups(reference, bins)
    return None if groups is None else groups[0]


def coarsen(reference: np.ndarray, window: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool adjacent bins into at most ``bins`` groups of about equal reference mass.

    Pooling is by position, so it is meant for ordered (numeric) bins only.
    ``window`` may carry leading axes (many windows at once).
    """
    groups = coarse_groups(reference, bins)
    if groups is None:
        return reference, window
    starts, pooled = groups
    return pooled, np.add.reduceat(window, starts, axis=-1)


def floored_shares(reference: np.ndarray, epsilon: float = PSI_EPSILON) -> np.ndarray:
    """The reference's shares floored at ``epsilon``: the ``p`` of PSI."""
    p: np.ndarray = np.maximum(reference / max(reference.sum(), 1), epsilon)
    return p


def psi(reference: np.ndarray, window: np.ndarray, epsilon: float = PSI_EPSILON) -> np.ndarray | float:
    """PSI between two count vectors on the same bins (vectorised over leading axes of ``window``)."""
    return psi_against(floored_shares(reference, epsilon), window, epsilon)


def psi_against(p: np.ndarray, window: np.ndarray, epsilon: float = PSI_EPSILON) -> np.ndarray | float:
    """PSI of ``window`` against reference shares ``p`` already floored at ``epsilon``
    (:func:`floored_shares`)."""
    total = np.add.reduce(window, axis=-1, keepdims=True)
    q = window / np.maximum(total, 1)
    q = np.maximum(q, epsilon)
    out = np.add.reduce((q - p) * np.log(q / p), axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def bin_midpoints(edges: np.ndarray, minimum: float, maximum: float) -> np.ndarray:
    """Midpoints of the ``len(edges) + 1`` bins closed by the reference min and max."""
    lo = min(minimum, float(edges[0])) if edges.size else minimum
    hi = max(maximum, float(edges[-1])) if edges.size else maximum
    bounds = np.concatenate([[lo], edges, [hi]])
    mid: np.ndarray = (bounds[:-1] + bounds[1:]) / 2
    return mid


def wasserstein_binned(
    reference: np.ndarray,
    window: np.ndarray,
    edges: np.ndarray,
    minimum: float,
    maximum: float,
    scale: float,
) -> np.ndarray | float:
    """W1 between two count vectors on the bins given by ``edges``, divided by ``scale``."""
    mids = bin_midpoints(np.asarray(edges, dtype=float), minimum, maximum)
    gaps = np.diff(mids)
    cdf_gap = np.abs(np.cumsum(shares(reference), axis=-1) - np.cumsum(shares(window), axis=-1))
    w = np.sum(cdf_gap[..., :-1] * gaps, axis=-1)
    spread = scale if scale > 0 else max(maximum - minimum, 1e-12)
    out = w / spread
    return float(out) if np.ndim(out) == 0 else out


def unseen_share(reference: np.ndarray, window: np.ndarray) -> np.ndarray | float:
    """Excess share of the window in the pooled "other" (last) bin."""
    p = shares(reference)[..., -1]
    q = shares(window)[..., -1]
    out = np.maximum(q - p, 0.0)
    return float(out) if np.ndim(out) == 0 else out
