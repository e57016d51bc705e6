"""Streaming change detectors on per-event signals: the registry.

A streaming detector takes one value per event (the score today, the error
stream once labels arrive) with ``update(value)``, which returns ``None``; read
``state`` and ``reading()`` afterwards (river's shape). Each one restarts
itself on the update after it fired, as river's detectors do. Non-finite
values are counted in ``skipped`` and otherwise ignored, never raised on.

``every`` feeds only every n-th value (KSWIN costs ~150 us per update, so it is
sub-sampled). State round-trips exactly through :meth:`to_state` /
:func:`restore_streaming` as plain JSON.

The registry :data:`STREAMING` maps config ``kind`` names to constructors; it
is built explicitly below, not by import side effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from stream_monitor.detectors.adwin import ADWIN
from stream_monitor.detectors.kswin import KSWIN
from stream_monitor.detectors.page_hinkley import PageHinkley
from stream_monitor.detectors.state import StreamingState
from stream_monitor.detectors.streaming_base import StreamingBase

__all__ = ["STREAMING", "StreamingBase", "build_streaming", "restore_streaming"]


STREAMING: Final[Mapping[str, type[StreamingBase]]] = MappingProxyType(
    {"adwin": ADWIN, "kswin": KSWIN, "page_hinkley": PageHinkley}
)


def build_streaming(kind: str, params: Mapping[str, Any], *, every: int = 1) -> StreamingBase:
    """A fresh detector of ``kind``; ``KeyError`` for unknown kinds, ``TypeError``
    for unknown parameters, ``ValueError`` for bad values."""
    return STREAMING[kind](**dict(params), every=every)


def restore_streaming(state: StreamingState) -> StreamingBase:
    """The detector a :meth:`StreamingBase.to_state` snapshot describes."""
    det = build_streaming(state.kind, state.params, every=state.every)
    det.load_state(state)
    return det
