"""river's KSWIN and Page-Hinkley detectors, wrapped so that they snapshot exactly.

Each wrapper builds river's detector from its parameters and persists
everything it holds through the state codec (:mod:`stream_monitor.windows.persist`):
the fields of its state model in :mod:`stream_monitor.detectors.state` name the
attributes they are read from. Like river's, each restarts on the update after
a detection.

KSWIN (Kolmogorov-Smirnov windowing; Raab et al. 2020)
    The detector keeps the last ``window_size`` values and, on every update,
    compares the newest ``stat_size`` with a random sample of the older ones by
    a two-sample KS test; it fires when ``p <= alpha`` and ``D > 0.1``. It wraps
    :class:`river.drift.KSWIN` and snapshots the window, the state of its
    random generator, ``p_value`` and ``n``. The seed defaults to 0 (river's
    default ``None`` would make runs unrepeatable). It costs ~150 us per
    update: sub-sample it with ``every``.
Page-Hinkley test (Page 1954)
    Cumulative deviations of each value from the running mean, less a
    tolerance ``delta`` and faded by ``alpha``, are compared with their running
    extremes; the test fires when the gap exceeds ``threshold``. The scale of
    ``threshold`` and ``delta`` is the signal's own, so river's defaults (50,
    0.005) suit signals of order 1-100. It wraps :class:`river.drift.PageHinkley`
    and snapshots its running mean, sums and extremes.

Parameters
----------
alpha, window_size, stat_size, seed
    KSWIN: river's parameters (defaults 0.005, 100, 30; seed 0).
min_instances, delta, threshold, alpha, mode
    Page-Hinkley: river's parameters (defaults 30, 0.005, 50.0, 1 - 1e-4, "both").
every
    Either: feed every n-th value only.

Examples
--------
>>> import random
>>> rng = random.Random(12345)
>>> kswin = KSWIN(alpha=0.0001)
>>> for i in range(1000):
...     kswin.update(rng.random() if i < 500 else rng.random() + 1.0)
>>> kswin.detections >= 1
True
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
Raab, C., Heusinger, M. and Schleif, F.-M. (2020). Reactive soft prototype
computing for concept drift streams. Neurocomputing 416, 340-351.
"""

from __future__ import annotations

import collections

from stream_monitor.detectors.state import KswinState, PageHinkleyState
from stream_monitor.detectors.streaming_base import RiverWrapped

__all__ = ["KSWIN", "PageHinkley"]


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
