"""The shared base of streaming change detectors (see :mod:`stream_monitor.detectors.streaming`).

A streaming detector takes one value per event with ``update(value)``, which
returns ``None``; read ``state`` and ``reading()`` afterwards (river's shape).
Each one restarts itself on the update after it fired, as river's detectors
do. Non-finite values are counted in ``skipped`` and otherwise ignored, never
raised on. ``every`` feeds only every n-th value.
"""

from __future__ import annotations

import math
from typing import Any, cast

from pydantic import BaseModel

from stream_monitor.detectors.base import DetectorState, StreamReading
from stream_monitor.detectors.state import AlgorithmState, StreamingState, StreamParams
from stream_monitor.windows.persist import assign, capture

__all__ = ["RiverWrapped", "StreamingBase"]


class StreamingBase:
    """What every streaming detector shares: sub-sampling, counters, the state shape."""

    name = ""
    Algorithm: type[BaseModel]  # the algorithm's state model (see :mod:`~stream_monitor.windows.persist`)

    def __init__(self, *, every: int = 1) -> None:
        if int(every) < 1:
            raise ValueError("every must be at least 1")
        self.every = int(every)
        self.seen = 0  # values offered
        self.updates = 0  # values fed to the algorithm
        self.skipped = 0  # non-finite values ignored
        self.detections = 0
        self._drift = False

    def params(self) -> StreamParams:
        """The constructor parameters (without ``every``)."""
        raise NotImplementedError

    def _step(self, value: float) -> bool:
        raise NotImplementedError

    def _estimate(self) -> float:
        raise NotImplementedError

    def _dump(self) -> AlgorithmState:
        """The algorithm's state: the fields of ``Algorithm`` read from the detector."""
        return cast(AlgorithmState, capture(self.Algorithm, self))

    def _load(self, data: AlgorithmState) -> None:
        """Restore :meth:`_dump`; ``TypeError`` for another algorithm's state."""
        if not isinstance(data, self.Algorithm):
            raise TypeError(f"{self.name} cannot load a {type(data).__name__}")
        assign(self, data)

    def update(self, value: float) -> None:
        """Feed one value (every ``every``-th one reaches the algorithm)."""
        self.seen += 1
        if (self.seen - 1) % self.every:
            return
        x = float(value)
        if not math.isfinite(x):
            self.skipped += 1
            return
        self.updates += 1
        self._drift = self._step(x)
        if self._drift:
            self.detections += 1

    @property
    def drift_detected(self) -> bool:
        """Whether the last update fired."""
        return self._drift

    @property
    def state(self) -> DetectorState:
        return DetectorState.DRIFT if self._drift else DetectorState.OK

    def reading(self) -> StreamReading:
        return StreamReading(self.detections, self.updates, self._estimate())

    def to_state(self) -> StreamingState:
        """The detector's state; :func:`restore_streaming` rebuilds an identical detector."""
        return capture(StreamingState, self, kind=self.name, params=self.params(), algorithm=self._dump())

    def load_state(self, state: StreamingState) -> None:
        """Take the counters and the algorithm's state of ``state`` (built with the same parameters)."""
        assign(self, state, skip=("kind", "params", "algorithm"))
        self._load(state.algorithm)


class RiverWrapped(StreamingBase):
    """A streaming detector that delegates to a river detector ``_det`` built from ``_params``."""

    _params: dict[str, Any]  # as river's typed constructors take them
    _det: Any

    def params(self) -> StreamParams:
        return dict(self._params)

    def _step(self, value: float) -> bool:
        self._det.update(value)
        return bool(self._det.drift_detected)
