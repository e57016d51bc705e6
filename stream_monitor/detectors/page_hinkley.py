"""Page-Hinkley test (Page 1954), river's, with exact snapshots.

Cumulative deviations of each value from the running mean, less a tolerance
``delta`` and faded by ``alpha``, are compared with their running extremes; the
test fires when the gap exceeds ``threshold``. The scale of ``threshold`` and
``delta`` is the signal's own, so river's defaults (50, 0.005) suit signals of
order 1-100. This wraps :class:`river.drift.PageHinkley` and snapshots its
running mean, sums and extremes. Like river's, it restarts on the update after
a detection.

Parameters
----------
min_instances, delta, threshold, alpha, mode
    river's parameters (defaults 30, 0.005, 50.0, 1 - 1e-4, "both").
every
    Feed every n-th value only.

Examples
--------
>>> ph = PageHinkley(threshold=10.0)
>>> fired = []
>>> for i in range(400):
...     ph.update(0.0 if i < 200 else 1.0)
...     if ph.drift_detected:
...         fired.append(i)
>>> fired[:1]
[210]

References
----------
Page, E. S. (1954). Continuous inspection schemes. Biometrika 41(1/2), 100-115.
"""

from __future__ import annotations

from stream_monitor.detectors.state import PageHinkleyState
from stream_monitor.detectors.streaming_base import RiverWrapped

__all__ = ["PageHinkley"]


class PageHinkley(RiverWrapped):
    """Page-Hinkley drift detector; see the module docstring."""

    name = "page_hinkley"
    Algorithm = PageHinkleyState

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
        *,
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        if float(threshold) <= 0 or not 0 < float(alpha) <= 1 or int(min_instances) < 1:
            raise ValueError("threshold must be > 0, alpha in (0, 1], min_instances >= 1")
        self._params = {"min_instances": int(min_instances), "delta": float(delta), "threshold": float(threshold),
                        "alpha": float(alpha), "mode": str(mode)}
        from river import drift  # on use: river and scipy.stats cost a worker ~56 MB at import

        self._det = drift.PageHinkley(**self._params)  # validates mode

    def _estimate(self) -> float:
        return float(self._det._x_mean.get())

