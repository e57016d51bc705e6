"""Streaming change detectors: the registries of drift and concept-drift detectors.

A streaming detector takes one value per event (the score today, the error
stream once labels arrive) with ``update(value)``, which returns ``None``; read
``state`` and ``reading()`` afterwards (river's shape). Each one restarts
itself on the update after it fired, as river's detectors do. Non-finite
values are counted in ``skipped`` and otherwise ignored, never raised on.

Drift detectors (:data:`STREAMING`) run on the score. ``every`` feeds only
every n-th value (KSWIN costs ~150 us per update, so it is sub-sampled). State
round-trips exactly through :meth:`to_state` / :func:`restore_streaming` as
plain JSON.

Concept-drift detectors (:data:`CONCEPT`) run on the error stream of joined
(prediction, label) pairs. Drift of the inputs shows in the feature windows; a
change of the relation between inputs and labels shows only here, in the
errors: ``adwin`` (any bounded error signal) and ``ddm`` (0/1 errors). Both
snapshot exactly (see :func:`restore_concept`).

Both registries map config ``kind`` names to constructors; they are built
explicitly below, not by import side effects. :mod:`stream_monitor.detectors.checks`
tries a spec's parameters on them; the drift path builds its detectors per model
version (:mod:`stream_monitor.pipeline.version_state`), the label path builds its
concept detectors (:mod:`stream_monitor.pipeline.label_versions`) and revives
them by kind (:mod:`stream_monitor.pipeline.state`).

Examples
--------
>>> det = build_concept("ddm", {})
>>> for i in range(2000):
...     det.update(float(i % 10 == 0 if i < 1000 else i % 2 == 0))
>>> det.detections >= 1
True
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from stream_monitor.detectors.adwin import ADWIN
from stream_monitor.detectors.ddm import DDM
from stream_monitor.detectors.kswin import KSWIN
from stream_monitor.detectors.page_hinkley import PageHinkley
from stream_monitor.detectors.state import StreamingState
from stream_monitor.detectors.streaming_base import StreamingBase

__all__ = [
    "CONCEPT", "STREAMING", "StreamingBase", "build_concept", "build_streaming", "restore_concept", "restore_streaming",
]


STREAMING: Final[Mapping[str, type[StreamingBase]]] = MappingProxyType(
    {"adwin": ADWIN, "kswin": KSWIN, "page_hinkley": PageHinkley}
)
CONCEPT: Final[Mapping[str, type[StreamingBase]]] = MappingProxyType({"adwin": ADWIN, "ddm": DDM})


def build_streaming(kind: str, params: Mapping[str, Any], *, every: int = 1) -> StreamingBase:
    """A fresh detector of ``kind``; ``KeyError`` for unknown kinds, ``TypeError``
    for unknown parameters, ``ValueError`` for bad values."""
    return STREAMING[kind](**dict(params), every=every)


def restore_streaming(state: StreamingState) -> StreamingBase:
    """The detector a :meth:`StreamingBase.to_state` snapshot describes."""
    det = build_streaming(state.kind, state.params, every=state.every)
    det.load_state(state)
    return det


def build_concept(kind: str, params: Mapping[str, Any]) -> StreamingBase:
    """A fresh error-stream detector; ``KeyError``/``TypeError``/``ValueError`` on bad config."""
    return CONCEPT[kind](**dict(params))


def restore_concept(state: StreamingState) -> StreamingBase:
    """The detector a ``to_state()`` snapshot describes."""
    det = build_concept(state.kind, state.params)
    det.load_state(state)
    return det
