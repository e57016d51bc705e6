"""DDM, the drift detection method (Gama et al. 2004), with state that snapshots.

For a stream of 0/1 errors: the running error rate ``p`` and its standard
deviation ``s = sqrt(p (1 - p) / n)``; the minimum of ``p + s`` after
``warm_start`` values is remembered, and the detector fires when ``p + s``
exceeds ``p_min + drift_threshold * s_min`` (a warning at
``warning_threshold``). Step for step river's ``river.drift.binary.DDM`` (a
test checks they fire on the same updates), in plain Python so its five
numbers serialise to JSON. Like river's, it restarts on the update after it
fired. Values other than 0 and 1 are clipped into [0, 1].

Parameters
----------
warm_start
    Values before the first check.
warning_threshold, drift_threshold
    Multiples of ``s_min`` (river's defaults 2 and 3).
every
    Feed every n-th value only.

Examples
--------
>>> import random
>>> rng = random.Random(42)
>>> ddm = DDM()
>>> fired = []
>>> for i in range(3000):
...     ddm.update(rng.random() < (0.1 if i < 1500 else 0.3))
...     if ddm.drift_detected:
...         fired.append(i)
>>> fired[0] > 1500
True

References
----------
Gama, J., Medas, P., Castillo, G. and Rodrigues, P. (2004). Learning with drift
detection. SBIA 2004, 286-295.
"""

from __future__ import annotations

import math

from stream_monitor.detectors.state import DdmState, StreamParams
from stream_monitor.detectors.streaming_base import StreamingBase

__all__ = ["DDM"]


class DDM(StreamingBase):
    """DDM on a 0/1 error stream; see the module docstring."""

    name = "ddm"
    Algorithm = DdmState

    def __init__(
        self, warm_start: int = 30, warning_threshold: float = 2.0, drift_threshold: float = 3.0, *, every: int = 1
    ) -> None:
        super().__init__(every=every)
        if int(warm_start) < 1 or not 0 < float(warning_threshold) <= float(drift_threshold):
            raise ValueError("warm_start must be >= 1 and 0 < warning_threshold <= drift_threshold")
        self.warm_start = int(warm_start)
        self.warning_threshold = float(warning_threshold)
        self.drift_threshold = float(drift_threshold)
        self.warning = False
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._p = 0.0
        self._p_min: float | None = None
        self._s_min: float | None = None
        self._ps_min = math.inf

    def params(self) -> StreamParams:
        return {"warm_start": self.warm_start, "warning_threshold": self.warning_threshold,
                "drift_threshold": self.drift_threshold}

    def _step(self, value: float) -> bool:
        if self._drift:
            self._reset()
        x = min(max(value, 0.0), 1.0)
        self._n += 1
        self._p += (x - self._p) / self._n
        p, n = self._p, self._n
        s = math.sqrt(p * (1 - p) / n)
        if n <= self.warm_start:
            return False
        if p + s <= self._ps_min:
            self._p_min, self._s_min, self._ps_min = p, s, p + s
        assert self._p_min is not None and self._s_min is not None
        if p + s > self._p_min + self.drift_threshold * self._s_min:
            self.warning = False
            return True
        self.warning = p + s > self._p_min + self.warning_threshold * self._s_min
        return False

    def _estimate(self) -> float:
        return self._p

