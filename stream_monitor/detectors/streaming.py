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
explicitly below, not by import side effects. The specs (:mod:`stream_monitor.specs`)
carry detector parameters as plain values (river's names: ``delta``, ``warm_start``,
...); only the detectors know which they take and which values are valid:
:func:`spec_problems` tries a spec's parameters on the registries and lists what does
not build, each with its place in the spec, and :func:`check_model_spec` raises on that
list (:class:`~stream_monitor.settings.ServiceSettings` runs it on every model it loads,
and so do :func:`stream_monitor.compare` and the record-level monitor); the drift path builds its detectors per model
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
>>> from stream_monitor.specs.model import ModelSpec
>>> spec = ModelSpec.model_validate({
...     "model_id": "m", "features": [{"name": "x", "type": "numeric"}], "reference": {"profile": "p.json"},
...     "detectors": {"streaming": [{"kind": "adwin", "params": {"delta": 0.002}}, {"kind": "adwin",
...                                                                             "params": {"delta": 2.0}}]}})
>>> spec_problems(spec)
['detectors.streaming.1: adwin: ...']
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from stream_monitor.detectors.adwin import ADWIN
from stream_monitor.detectors.ddm import DDM
from stream_monitor.detectors.river_wrapped import KSWIN, PageHinkley
from stream_monitor.detectors.state import StreamingState
from stream_monitor.detectors.streaming_base import StreamingBase
from stream_monitor.specs.model import ModelSpec

__all__ = [
    "CONCEPT", "STREAMING", "StreamingBase", "build_concept", "build_streaming", "check_model_spec", "restore_concept",
    "restore_streaming", "spec_problems",
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


def spec_problems(spec: ModelSpec) -> list[str]:
    """What in ``spec`` names no registered detector or does not build one (empty: all builds)."""
    out: list[str] = []
    for i, s in enumerate(spec.detectors.streaming):
        try:
            build_streaming(s.kind, dict(s.params), every=s.every)
        except (TypeError, ValueError) as exc:
            out.append(f"detectors.streaming.{i}: {s.kind}: {exc}")
    for i, c in enumerate(spec.labels.concept if spec.labels else ()):
        try:
            build_concept(c.kind, dict(c.params))
        except (TypeError, ValueError) as exc:
            out.append(f"labels.concept.{i}: concept {c.kind}: {exc}")
    return out


def check_model_spec(spec: ModelSpec) -> ModelSpec:
    """``spec`` itself if every detector it names builds; ``ValueError`` listing what does not."""
    problems = spec_problems(spec)
    if problems:
        raise ValueError("; ".join(problems))
    return spec
