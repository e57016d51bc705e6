"""Hellinger distance between reference and window shares on the same bins.

H(p, q) = sqrt(1 - sum_i sqrt(p_i q_i)), in [0, 1]. It is bounded, symmetric
and, like Jensen-Shannon, needs no epsilon for empty bins; it weighs changes
in rare bins less than PSI does, which makes it steadier on small windows.

Vectorised over leading axes of ``window``.

Examples
--------
>>> import numpy as np
>>> ref = np.array([100, 100, 100, 100])
>>> float(hellinger(ref, ref))
0.0
>>> round(float(hellinger(ref, np.array([0, 0, 50, 50]))), 4)
0.5412
"""

from __future__ import annotations

import numpy as np

from stream_monitor.detectors.jensen_shannon import shares

__all__ = ["hellinger"]


def hellinger(reference: np.ndarray, window: np.ndarray) -> np.ndarray | float:
    """Hellinger distance between two count vectors on the same bins."""
    p = shares(reference)
    q = shares(window)
    bc = np.sum(np.sqrt(p * q), axis=-1)  # Bhattacharyya coefficient
    out = np.sqrt(np.clip(1.0 - bc, 0.0, 1.0))
    return float(out) if out.ndim == 0 else out
