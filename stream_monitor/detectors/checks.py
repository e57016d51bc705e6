"""Whether the detectors a spec configures build with the parameters it gives.

The specs (:mod:`stream_monitor.specs`) name streaming and concept detectors and
carry their parameters as plain values (river's names: ``delta``, ``warm_start``,
...); only the detectors know which parameters they take and which values are
valid. :func:`spec_problems` lists what does not build, each with where it is in
the spec; :func:`check_model_spec` raises on that list.
:class:`~stream_monitor.settings.ServiceSettings` runs it on every model it loads
(the error names the model's position, as ``validate-config`` prints it), and so
do :func:`stream_monitor.compare` and the record-level monitor.

>>> from stream_monitor.specs.model import ModelSpec
>>> spec = ModelSpec.model_validate({
...     "model_id": "m", "features": [{"name": "x", "type": "numeric"}], "reference": {"profile": "p.json"},
...     "detectors": {"streaming": [{"kind": "adwin", "params": {"delta": 0.002}}, {"kind": "adwin",
...                                                                             "params": {"delta": 2.0}}]}})
>>> spec_problems(spec)
['detectors.streaming.1: adwin: ...']
"""

from __future__ import annotations

from stream_monitor.detectors.streaming import build_concept, build_streaming
from stream_monitor.specs.model import ModelSpec

__all__ = ["check_model_spec", "spec_problems"]


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
