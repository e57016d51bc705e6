"""Concept-drift detectors on the error stream of joined (prediction, label) pairs.

Drift of the inputs shows in the feature windows; a change of the relation
between inputs and labels shows only here, in the errors. The registry
:data:`CONCEPT` maps config ``kind`` names to constructors: ``adwin`` (any
bounded error signal) and ``ddm`` (0/1 errors). Both snapshot exactly (see
:func:`restore_concept`) and restart themselves after they fire.

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
from stream_monitor.detectors.state import StreamingState
from stream_monitor.detectors.streaming_base import StreamingBase

__all__ = ["CONCEPT", "build_concept", "restore_concept"]

CONCEPT: Final[Mapping[str, type[StreamingBase]]] = MappingProxyType({"adwin": ADWIN, "ddm": DDM})


def build_concept(kind: str, params: Mapping[str, Any]) -> StreamingBase:
    """A fresh error-stream detector; ``KeyError``/``TypeError``/``ValueError`` on bad config."""
    return CONCEPT[kind](**dict(params))


def restore_concept(state: StreamingState) -> StreamingBase:
    """The detector a ``to_state()`` snapshot describes."""
    det = build_concept(state.kind, state.params)
    det.load_state(state)
    return det
