"""The drift path's state of one model version: :class:`VersionState`.

A version runs against one reference (configured, static or learned, see
:mod:`stream_monitor.pipeline.model_versions`). :meth:`VersionState.start`
compiles what the version needs from it, once: the window layout, the
evaluation plan, the distance calibrator, the streaming detectors, the segment
windows and the sequential detectors' layout and bank; with ``seasonality``
also the reference per phase bucket and the CUSUM tables per phase bucket.
The version then keeps its open window, its policy state, the streaming and
sequential detectors' state and the healthy windows of a rolling reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stream_monitor.decisions.conclusion import WindowReport
from stream_monitor.decisions.request import ReferenceInfo
from stream_monitor.decisions.state import PolicyState
from stream_monitor.detectors.calibration import Calibrator
from stream_monitor.detectors.cusum import CusumBank
from stream_monitor.detectors.cusum_signals import CusumLayout
from stream_monitor.detectors.seasonal_cusum import SeasonalCusum
from stream_monitor.detectors.streaming import StreamingBase, build_streaming
from stream_monitor.events.models import FeatureEvent, PredictionEvent
from stream_monitor.pipeline.plan import EvaluationPlan
from stream_monitor.pipeline.seasonal import PhaseCalibrator, PhaseReference
from stream_monitor.pipeline.sequential import sequential_layout
from stream_monitor.pipeline.state import VersionSnapshot
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.persist import capture
from stream_monitor.windows.profile import ReferenceProfile
from stream_monitor.windows.segments import SegmentWindows
from stream_monitor.windows.window import Window, WindowLayout

__all__ = ["Groups", "VersionState", "WindowEvent"]

WindowEvent = PredictionEvent | FeatureEvent
Groups = tuple[str, ...] | None  # an event's segment groups (None: no segment)


@dataclass(slots=True)
class VersionState:
    version: str
    reference: ReferenceProfile | None
    learned: bool
    policy: PolicyState = field(default_factory=PolicyState)
    layout: WindowLayout | None = None
    window: Window | None = None
    learning: list[dict[str, Any]] | None = None
    last_report: WindowReport | None = None  # in memory only
    streams: dict[str, StreamingBase] = field(default_factory=dict)
    stream_marks: dict[str, int] = field(default_factory=dict)  # detections when the window opened
    healthy: list[Window] = field(default_factory=list)  # the rolling reference's windows
    calibrator: Calibrator | None = None  # in memory only: a pure function of the reference
    plan: EvaluationPlan | None = None  # in memory only: the reference's tests and thresholds
    segments: SegmentWindows | None = None  # per-segment windows, when ``segments`` is configured
    cusum_layout: CusumLayout | None = None  # in memory only: a pure function of the reference
    cusum: CusumBank | None = None  # the sequential detectors' state, when enabled
    incarnation: str = ""  # the event time that started this life of the version (request ids)
    phase: PhaseReference | None = None  # in memory only: the reference per phase bucket (seasonality)
    seasonal_cusum: SeasonalCusum | None = None  # in memory only: the CUSUM tables per phase bucket
    phases: np.ndarray | None = None  # events of the open window per phase bucket (seasonality)

    def start(self, spec: ModelSpec, reference: ReferenceProfile, index: int = 0) -> None:
        det = spec.detectors
        self.reference = reference
        self.layout = WindowLayout.build(spec, reference)
        self.window = Window.empty(index, self.layout)
        self.learning = None
        self.plan = EvaluationPlan.build(spec, reference)
        self.calibrator = Calibrator(resamples=det.calibration_resamples, seed=det.seed)
        self.streams = {
            _stream_name(s.kind, i, det.streaming): build_streaming(s.kind, s.params, every=s.every)
            for i, s in enumerate(det.streaming)
        }
        self.stream_marks = dict.fromkeys(self.streams, 0)
        self.segments = SegmentWindows.empty(spec.segments, self.layout, index) if spec.segments else None
        if spec.seasonality is not None and reference.seasonal is not None:
            self.phase = PhaseReference.cached(reference)
            self.phases = np.zeros(reference.seasonal.buckets, dtype=np.int64)
            self.calibrator = PhaseCalibrator(reference, resamples=det.calibration_resamples, seed=det.seed)
            self.seasonal_cusum = SeasonalCusum.cached(spec, reference)
            self.cusum_layout = self.seasonal_cusum.layout if self.seasonal_cusum is not None else None
        else:
            self.cusum_layout = sequential_layout(spec, reference)
        head = det.sequential.head_start
        self.cusum = CusumBank.empty(self.cusum_layout, head) if self.cusum_layout is not None else None

    @property
    def learned_reference(self) -> ReferenceProfile | None:
        """The reference when it was learned (a configured one is not persisted: configuration gives it)."""
        return self.reference if self.learned and self.reference else None

    def to_state(self) -> VersionSnapshot:
        return capture(VersionSnapshot, self)

    def reference_info(self, rolling: ReferenceProfile | None = None) -> ReferenceInfo:
        ref = rolling if rolling is not None else self.reference
        assert ref is not None
        return ReferenceInfo(
            kind="rolling" if rolling is not None else "learned" if self.learned else "static",
            source=ref.source,
            fingerprint=ref.fingerprint(),
            rows=ref.rows,
        )


def _stream_name(kind: str, i: int, all_specs: Sequence[Any]) -> str:
    """The detector name in readings: its kind, numbered only when a kind repeats."""
    same = [j for j, s in enumerate(all_specs) if s.kind == kind]
    return kind if len(same) == 1 else f"{kind}_{same.index(i) + 1}"
