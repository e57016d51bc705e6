"""Run the configured window tests on a closed window against its reference.

Produces raw :class:`~stream_monitor.decisions.policy.Reading` values (``drift``
not yet decided) and per-feature data-quality rates.
"""

from __future__ import annotations

from stream_monitor.detectors.base import TestInput
from stream_monitor.detectors.calibration import Calibrator
from stream_monitor.detectors.mmd import mmd_test
from stream_monitor.detectors.reading import Quality, Reading
from stream_monitor.detectors.registry import get_test
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.accumulators import CategoricalAccumulator, NumericAccumulator
from stream_monitor.windows.embedding import FeatureMap
from stream_monitor.windows.profile import (
    MULTIVARIATE,
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    prediction_kind,
)
from stream_monitor.windows.window import Accumulator, Window, reference_counts

__all__ = ["distance_quantile", "distance_tests", "evaluate_window", "multivariate_readings"]

# Effect floor of the MMD (sqrt of MMD^2 on random Fourier features).
MMD_EFFECT_FLOOR = 0.05


def distance_quantile(spec: ModelSpec, n_distance_tests: int) -> float:
    """The null quantile distance thresholds are calibrated at.

    The false-alarm budget ``alpha`` is shared by the distance tests of a window
    (Bonferroni) unless the correction is ``none``.
    """
    det = spec.detectors
    m = max(n_distance_tests, 1) if det.correction != "none" else 1
    return 1.0 - det.alpha / m


def _feature_readings(
    feature: str,
    acc: Accumulator,
    profile: NumericProfile | CategoricalProfile,
    tests: list[str],
    spec: ModelSpec,
    calibrator: Calibrator | None,
    quantile: float,
) -> tuple[list[Reading], Quality]:
    det = spec.detectors
    ftype = "numeric" if isinstance(profile, NumericProfile) else "categorical"
    ref = reference_counts(profile)
    n_ref = int(ref.sum())
    n = acc.n  # a sum over the bins: read once
    readings = []
    for name in tests:
        test = get_test(name, ftype, psi_bins=det.psi_bins)
        result = test.run(TestInput(ref, acc.counts, acc, profile))
        floor = det.effect_floor(name, test.default_effect) if test.kind == "pvalue" else None
        if test.kind == "pvalue":
            threshold = det.alpha
        else:
            threshold = det.threshold(name, test.default_threshold or 0.0)
            # Below min_samples a reading never fires (policy rule 6): no calibration for it.
            if calibrator is not None and test.batch is not None and n >= det.min_samples:
                calibrated = calibrator.threshold(feature, test, ref, profile, n, quantile)
                threshold = max(threshold, calibrated)
        readings.append(
            Reading(feature, name, test.statistic or name, result.value, threshold, result.p_value, False, n,
                    n_ref, result.effect, floor)
        )
    observed = acc.observed
    missing_rate = acc.missing / observed if observed else 0.0
    ref_missing = profile.missing / (n_ref + profile.missing) if (n_ref + profile.missing) else 0.0
    readings.append(
        Reading(
            feature, "missing_rate", "missing_rate", missing_rate,
            min(ref_missing + det.missing_rate_threshold, 1.0), None, False, observed, n_ref,
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


Job = tuple[str, Accumulator, NumericProfile | CategoricalProfile, list[str]]


def _jobs(window: Window, reference: ReferenceProfile, spec: ModelSpec) -> list[Job]:
    """(feature, accumulator, reference profile, tests) of every feature seen in the window."""
    det = spec.detectors
    types = {f.name: f.type for f in spec.features}
    jobs: list[Job] = []
    for name, acc in window.accumulators.items():
        if acc.observed == 0:
            continue  # features never sent in this window (e.g. logged elsewhere)
        tests = det.numeric if types[name] == "numeric" else det.categorical
        jobs.append((name, acc, reference.features[name], tests))
    if window.prediction is not None and reference.prediction is not None and window.prediction.observed:
        kind = prediction_kind(spec)
        tests = det.prediction if det.prediction is not None else (
            det.numeric if kind == "numeric" else det.categorical)
        jobs.append((PREDICTION, window.prediction, reference.prediction, tests))
    return jobs


def distance_tests(window: Window, reference: ReferenceProfile, spec: ModelSpec) -> int:
    """How many distance tests :func:`evaluate_window` runs on this window."""
    return sum(
        get_test(t, "numeric" if isinstance(prof, NumericProfile) else "categorical").kind == "distance"
        for _, _, prof, tests in _jobs(window, reference, spec)
        for t in tests
    )


def evaluate_window(
    window: Window,
    reference: ReferenceProfile,
    spec: ModelSpec,
    calibrator: Calibrator | None = None,
    embedding: FeatureMap | None = None,
    *,
    quantile: float | None = None,
) -> tuple[list[Reading], list[Quality]]:
    """All raw readings and quality rates of one closed window.

    ``calibrator`` holds the calibrated distance thresholds of ``reference``;
    without one (or with ``threshold_mode: fixed``) distance tests use their
    configured thresholds. ``embedding`` (the window layout's feature map)
    enables the multivariate readings. ``quantile`` overrides the calibration
    quantile, when the false-alarm budget is shared with more tests than this
    window's (segment windows; :func:`distance_tests` counts them).
    """
    det = spec.detectors
    if det.threshold_mode == "fixed":
        calibrator = None
    elif calibrator is None:
        calibrator = Calibrator(resamples=det.calibration_resamples, seed=det.seed)
    jobs = _jobs(window, reference, spec)
    if quantile is None:
        quantile = distance_quantile(spec, distance_tests(window, reference, spec))
    readings: list[Reading] = []
    quality: list[Quality] = []
    for name, acc, prof, tests in jobs:
        r, q = _feature_readings(name, acc, prof, tests, spec, calibrator, quantile)
        readings.extend(r)
        quality.append(q)
    readings.extend(multivariate_readings(window, embedding, spec))
    return readings, quality


def multivariate_readings(window: Window, embedding: FeatureMap | None, spec: ModelSpec) -> list[Reading]:
    """The MMD reading over all numeric features (none without an embedding or rows)."""
    det = spec.detectors
    acc = window.embedding
    if "mmd" not in det.multivariate or embedding is None or acc is None or acc.n == 0:
        return []
    t, p, mmd = mmd_test(acc.mean(), acc.n, embedding.ref_mean, embedding.ref_trace, embedding.ref_frob2,
                         embedding.ref_n)
    return [Reading(MULTIVARIATE, "mmd", "mmd2", t, det.alpha, p, False, acc.n, embedding.ref_n, mmd,
                    det.effect_floor("mmd", MMD_EFFECT_FLOOR))]
