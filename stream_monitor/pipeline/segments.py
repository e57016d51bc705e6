"""The window tests of a closed window, per configured segment.

Each sufficient segment window (:class:`~stream_monitor.windows.segments.SegmentWindows`,
at least ``detectors.min_samples`` predictions) runs the same per-feature tests
as the version window, against the model's reference, and its readings are
renamed ``<feature>@<attribute>=<group>``. Segments below ``min_samples`` are
insufficient: they produce no readings (and so never fire, nor take a share of
the false-alarm budget). The budget is shared with the version window's tests:
:func:`segment_quantile` is the distance calibration quantile over all of
them, and the policy corrects the p-values of all of them together.

A segment is compared with the whole population's reference: a feature whose
distribution differs between segments by design (a country per region) drifts
in its segments from the start; segment such models by attributes independent
of their inputs, or leave the correlated feature out of their tests.
"""

from __future__ import annotations

import dataclasses

from stream_monitor.detectors.calibration import Calibrator
from stream_monitor.detectors.reading import Reading
from stream_monitor.pipeline.evaluate import evaluate_window
from stream_monitor.pipeline.plan import EvaluationPlan
from stream_monitor.windows.profile import ReferenceProfile
from stream_monitor.windows.segments import SegmentWindows, segment_name
from stream_monitor.windows.window import Window

__all__ = ["segment_quantile", "segment_readings"]


def segment_quantile(window: Window, segments: SegmentWindows, reference: ReferenceProfile,
                     plan: EvaluationPlan) -> float:
    """The distance calibration quantile when the window's budget includes its sufficient segments."""
    n = plan.distance_tests(window, reference)
    n += sum(plan.distance_tests(w, reference) for _, _, w in segments.sufficient(plan.min_samples))
    return plan.quantile(n)


def segment_readings(
    segments: SegmentWindows,
    reference: ReferenceProfile,
    plan: EvaluationPlan,
    calibrator: Calibrator | None,
    quantile: float,
) -> list[Reading]:
    """Raw readings (``drift`` not yet decided) of every sufficient segment window."""
    out: list[Reading] = []
    for attr, group, w in segments.sufficient(plan.min_samples):
        readings, _ = evaluate_window(w, reference, plan, calibrator, quantile=quantile)
        out.extend(dataclasses.replace(r, feature=segment_name(r.feature, attr, group)) for r in readings)
    return out
