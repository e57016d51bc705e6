"""Share of unseen categories: how much more of the window falls outside the
reference's listed categories than the reference itself did.

The last bin of a categorical accumulator pools every value that is not one of
the reference's listed categories; the reference's own last bin holds its
pooled rare categories. The statistic is the excess share
``max(0, q_other - p_other)``: a new category taking 5% of the traffic gives
about 0.05, whatever the reference's long tail was.

Vectorised over leading axes of ``window``.

Examples
--------
>>> import numpy as np
>>> float(unseen_share(np.array([500, 400, 100]), np.array([50, 40, 10])))
0.0
>>> round(float(unseen_share(np.array([500, 400, 100]), np.array([35, 35, 30]))), 3)
0.2
"""

from __future__ import annotations

import numpy as np

from stream_monitor.detectors.jensen_shannon import shares

__all__ = ["unseen_share"]


def unseen_share(reference: np.ndarray, window: np.ndarray) -> np.ndarray | float:
    """Excess share of the window in the pooled "other" (last) bin."""
    p = shares(reference)[..., -1]
    q = shares(window)[..., -1]
    out = np.maximum(q - p, 0.0)
    return float(out) if np.ndim(out) == 0 else out
