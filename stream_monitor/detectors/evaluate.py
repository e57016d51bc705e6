"""Run the configured window tests on a closed window against its reference.

Produces raw :class:`~stream_monitor.decisions.policy.Reading` values (``drift``
not yet decided) and per-feature data-quality rates.
"""

from __future__ import annotations

from stream_monitor.decisions.policy import Quality, Reading
from stream_monitor.detectors.registry import get_test
from stream_monitor.modelspec import ModelSpec
from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator
from stream_monitor.windows.profile import PREDICTION, NumericProfile, ReferenceProfile, prediction_kind
from stream_monitor.windows.window import Accumulator, Window, reference_counts

__all__ = ["evaluate_window"]


def _feature_readings(
    feature: str,
    acc: Accumulator,
    profile: NumericProfile | object,
    tests: list[str],
    spec: ModelSpec,
) -> tuple[list[Reading], Quality]:
    det = spec.detectors
    ftype = "numeric" if isinstance(profile, NumericProfile) else "categorical"
    ref = reference_counts(profile)
    n_ref = int(ref.sum())
    readings = []
    for name in tests:
        test = get_test(name, ftype, psi_bins=det.psi_bins)
        result = test.compute(ref, acc.counts)
        threshold = det.alpha if test.kind == "pvalue" else det.threshold(name, test.default_threshold or 0.0)
        readings.append(
            Reading(feature, name, test.statistic or name, result.value, threshold, result.p_value, False, acc.n, n_ref)
        )
    observed = acc.observed
    missing_rate = acc.missing / observed if observed else 0.0
    ref_missing = profile.missing / (n_ref + profile.missing) if (n_ref + profile.missing) else 0.0  # type: ignore[attr-defined]
    readings.append(
        Reading(
            feature, "missing_rate", "missing_rate", missing_rate,
            min(ref_missing + det.missing_rate_threshold, 1.0), None, False, observed, n_ref,
        )
    )
    n = acc.n
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
    window: Window, reference: ReferenceProfile, spec: ModelSpec
) -> tuple[list[Reading], list[Quality]]:
    """All raw readings and quality rates of one closed window."""
    readings: list[Reading] = []
    quality: list[Quality] = []
    types = {f.name: f.type for f in spec.features}
    for name, acc in window.accumulators.items():
        if acc.observed == 0:
            continue  # features never sent in this window (e.g. logged elsewhere)
        tests = spec.detectors.numeric if types[name] == "numeric" else spec.detectors.categorical
        r, q = _feature_readings(name, acc, reference.features[name], tests, spec)
        readings.extend(r)
        quality.append(q)
    if window.prediction is not None and reference.prediction is not None and window.prediction.observed:
        kind = prediction_kind(spec)
        tests = spec.detectors.prediction
        if tests is None:
            tests = spec.detectors.numeric if kind == "numeric" else spec.detectors.categorical
        r, q = _feature_readings(PREDICTION, window.prediction, reference.prediction, tests, spec)
        readings.extend(r)
        quality.append(q)
    return readings, quality
