"""Run a reference's evaluation plan on a closed window and on its segments, and build
the rolling reference a window is also compared with.

Produces raw :class:`~stream_monitor.decisions.policy.Reading` values (``drift``
not yet decided) and per-feature data-quality rates. What runs, at what threshold,
is the :class:`~stream_monitor.pipeline.plan.EvaluationPlan` built when the version
started on its reference.

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

A static reference answers "has the traffic moved away from training?"; a rolling one
(:func:`rolling_profile`: the merged accumulators of the last N healthy windows) answers
"did it just change?". Slow, seasonal drift shows against the static reference only; a
sudden change shows against both. The rolling profile uses the static profile's bins,
so the same window accumulators serve both comparisons; its moments come from the
merged running sums.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from stream_monitor.detectors.base import TestInput
from stream_monitor.detectors.calibration import Calibrator
from stream_monitor.detectors.reading import Quality, Reading
from stream_monitor.detectors.two_sample import mmd_test
from stream_monitor.pipeline.plan import EvaluationPlan, FeaturePlan, Profile
from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator
from stream_monitor.windows.embedding import FeatureMap
from stream_monitor.windows.profile import MULTIVARIATE, CategoricalProfile, NumericProfile, ReferenceProfile
from stream_monitor.windows.segments import SegmentWindows, segment_name
from stream_monitor.windows.window import Accumulator, Window

__all__ = ["evaluate_window", "multivariate_readings", "rolling_profile", "segment_quantile", "segment_readings"]


def _feature_readings(
    plan: FeaturePlan,
    acc: Accumulator,
    profile: Profile,
    whole: EvaluationPlan,
    calibrator: Calibrator | None,
    quantile: float,
) -> tuple[list[Reading], Quality]:
    feature = plan.feature
    ref, ref_missing = plan.reference(profile)
    counts = ref.counts
    n_ref = int(counts.sum())
    n = acc.n  # a sum over the bins: read once
    readings = []
    for step in plan.tests:
        test = step.test
        result = test.run(TestInput(ref, acc.counts, acc, profile))
        threshold = step.threshold
        # Below min_samples a reading never fires (policy rule 6): no calibration for it.
        if step.calibrated and calibrator is not None and n >= whole.min_samples:
            threshold = max(threshold, calibrator.threshold(feature, test, counts, profile, n, quantile))
        readings.append(
            Reading(feature, step.name, test.statistic or step.name, result.value, threshold, result.p_value, False,
                    n, n_ref, result.effect, step.floor)
        )
    observed = acc.observed
    missing_rate = acc.missing / observed if observed else 0.0
    readings.append(
        Reading(
            feature, "missing_rate", "missing_rate", missing_rate,
            min(ref_missing + whole.missing_threshold, 1.0), None, False, observed, n_ref,
        )
    )
    quality = Quality(
        feature=feature,
        observed=observed,
        missing_rate=missing_rate,
        mismatched_rate=acc.mismatched / observed if observed else 0.0,
        out_of_range_rate=(acc.below + acc.above) / n if isinstance(acc, NumericAccumulator) and n else
        (0.0 if isinstance(acc, NumericAccumulator) else None),
        unseen_rate=acc.unseen / n if isinstance(acc, CategoricalAccumulator) and n else
        (0.0 if isinstance(acc, CategoricalAccumulator) else None),
    )
    return readings, quality


def evaluate_window(
    window: Window,
    reference: ReferenceProfile,
    plan: EvaluationPlan,
    calibrator: Calibrator | None = None,
    embedding: FeatureMap | None = None,
    *,
    quantile: float | None = None,
) -> tuple[list[Reading], list[Quality]]:
    """All raw readings and quality rates of one closed window.

    ``plan`` is the evaluation plan of the static reference ``reference`` derives
    from (it is that reference itself, a rolling one or one mixed to the window's
    phases). ``calibrator`` holds the calibrated distance thresholds of the
    reference; without one (or with ``threshold_mode: fixed``) distance tests use
    their configured thresholds. ``embedding`` (the window layout's feature map)
    enables the multivariate readings. ``quantile`` overrides the calibration
    quantile, when the false-alarm budget is shared with more tests than this
    window's (segment windows; :meth:`EvaluationPlan.distance_tests` counts them).
    """
    calibrator = plan.calibrator(calibrator)
    jobs = list(plan.jobs(window, reference))
    if quantile is None:
        quantile = plan.quantile(sum(p.distance_tests for p, _, _ in jobs))
    readings: list[Reading] = []
    quality: list[Quality] = []
    for feature_plan, acc, prof in jobs:
        r, q = _feature_readings(feature_plan, acc, prof, plan, calibrator, quantile)
        readings.extend(r)
        quality.append(q)
    readings.extend(multivariate_readings(window, embedding, plan))
    return readings, quality


def multivariate_readings(window: Window, embedding: FeatureMap | None, plan: EvaluationPlan) -> list[Reading]:
    """The MMD reading over all numeric features (none without an embedding or rows)."""
    acc = window.embedding
    if not plan.multivariate or embedding is None or acc is None or acc.n == 0:
        return []
    t, p, mmd = mmd_test(acc.mean(), acc.n, embedding.ref_mean, embedding.ref_trace, embedding.ref_frob2,
                         embedding.ref_n)
    return [Reading(MULTIVARIATE, "mmd", "mmd2", t, plan.alpha, p, False, acc.n, embedding.ref_n, mmd,
                    plan.mmd_floor)]


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


def _numeric(static: NumericProfile, acc: NumericAccumulator) -> NumericProfile:
    var = acc.variance()
    return NumericProfile(
        edges=static.edges,
        counts=tuple(int(c) for c in acc.counts),
        missing=acc.missing,
        minimum=static.minimum,
        maximum=static.maximum,
        mean=acc.mean() if acc.n else static.mean,
        std=math.sqrt(var) if acc.n > 1 and math.isfinite(var) else static.std,
        kurtosis=static.kurtosis,
    )


def _categorical(static: CategoricalProfile, acc: CategoricalAccumulator) -> CategoricalProfile:
    counts = acc.counts
    return CategoricalProfile(
        categories=static.categories,
        counts=tuple(int(c) for c in counts[:-1]),
        other=int(counts[-1]),
        missing=acc.missing,
    )


def _profile(static: NumericProfile | CategoricalProfile, acc: Accumulator) -> NumericProfile | CategoricalProfile:
    if isinstance(static, NumericProfile):
        assert isinstance(acc, NumericAccumulator)
        return _numeric(static, acc)
    assert isinstance(acc, CategoricalAccumulator)
    return _categorical(static, acc)


def rolling_profile(static: ReferenceProfile, windows: Sequence[Window]) -> ReferenceProfile | None:
    """The profile of the merged ``windows`` on ``static``'s bins (``None`` if empty)."""
    if not windows:
        return None
    merged = windows[0]
    for w in windows[1:]:
        merged = merged.merge(w)
    if any(np.sum(a.counts) == 0 for a in merged.accumulators.values()):
        return None
    features = {name: _profile(static.features[name], acc) for name, acc in merged.accumulators.items()}
    prediction = None
    if static.prediction is not None and merged.prediction is not None and merged.prediction.n:
        prediction = _profile(static.prediction, merged.prediction)
    return ReferenceProfile(
        model_id=static.model_id,
        source=f"rolling: windows {windows[0].index}-{windows[-1].index}",
        rows=merged.n,
        features=features,
        prediction=prediction,
    )
