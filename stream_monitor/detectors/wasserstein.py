"""Wasserstein-1 distance on the reference bins, in units of the reference spread.

W1 is the area between the two CDFs. Both CDFs are known at the reference bin
edges; each bin's mass is placed at its midpoint, with the outer bins closed by
the reference minimum and maximum (window values outside that range land in the
outer bins, and the out-of-range rate reports them). Dividing by the reference
standard deviation makes the number comparable across features: 0.1 is about
the displacement of a 0.1-sigma mean shift.

Vectorised over leading axes of ``window``.

Examples
--------
>>> import numpy as np
>>> edges = np.array([1.0, 2.0, 3.0])
>>> ref = np.array([100, 100, 100, 100])
>>> float(wasserstein_binned(ref, ref, edges, 0.0, 4.0, 1.0))
0.0
>>> float(wasserstein_binned(ref, np.array([0, 100, 100, 200]), edges, 0.0, 4.0, 1.0))
0.75
"""

from __future__ import annotations

import numpy as np

from stream_monitor.detectors.jensen_shannon import shares

__all__ = ["bin_midpoints", "wasserstein_binned"]


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
