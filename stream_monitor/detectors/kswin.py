"""KSWIN (Kolmogorov-Smirnov windowing; Raab et al. 2020), river's, with exact snapshots.

The detector keeps the last ``window_size`` values and, on every update,
compares the newest ``stat_size`` with a random sample of the older ones by a
two-sample KS test; it fires when ``p <= alpha`` and ``D > 0.1``. This wraps
river's :class:`river.drift.KSWIN` and snapshots everything it holds: the
window, the state of its random generator, ``p_value`` and ``n``. The seed
defaults to 0 (river's default ``None`` would make runs unrepeatable). It
costs ~150 us per update: sub-sample it with ``every``. Like river's, it
restarts on the update after a detection.

Parameters
----------
alpha, window_size, stat_size, seed
    river's parameters (defaults 0.005, 100, 30; seed 0).
every
    Feed every n-th value only.

Examples
--------
>>> import random
>>> rng = random.Random(12345)
>>> kswin = KSWIN(alpha=0.0001)
>>> for i in range(1000):
...     kswin.update(rng.random() if i < 500 else rng.random() + 1.0)
>>> kswin.detections >= 1
True

References
----------
Raab, C., Heusinger, M. and Schleif, F.-M. (2020). Reactive soft prototype
computing for concept drift streams. Neurocomputing 416, 340-351.
"""

from __future__ import annotations

import collections

from stream_monitor.detectors.state import KswinState
from stream_monitor.detectors.streaming_base import RiverWrapped

__all__ = ["KSWIN"]


class KSWIN(RiverWrapped):
    """KSWIN drift detector; see the module docstring."""

    name = "kswin"
    Algorithm = KswinState

    def __init__(
        self, alpha: float = 0.005, window_size: int = 100, stat_size: int = 30, seed: int = 0, *, every: int = 1
    ) -> None:
        super().__init__(every=every)
        self._params = {"alpha": float(alpha), "window_size": int(window_size), "stat_size": int(stat_size),
                        "seed": int(seed)}
        from river import drift  # on use: river and scipy.stats cost a worker ~56 MB at import

        self._det = drift.KSWIN(**self._params)  # validates alpha, window_size, stat_size

    def _estimate(self) -> float:
        return float(self._det.p_value)

    @property
    def _window(self) -> list[float]:
        """river's window (a deque bounded at ``window_size``), as a list."""
        return [float(x) for x in self._det.window]

    @_window.setter
    def _window(self, values: list[float]) -> None:
        self._det.window = collections.deque(values, maxlen=self._det.window_size)

    @property
    def _rng_state(self) -> tuple[int, list[int], float | None]:
        """The state of river's random generator (``random.getstate()``, its middle tuple as a list)."""
        version, internal, gauss = self._det._rng.getstate()
        return version, list(internal), gauss

    @_rng_state.setter
    def _rng_state(self, state: tuple[int, list[int], float | None]) -> None:
        version, internal, gauss = state
        self._det._rng.setstate((version, tuple(internal), gauss))
