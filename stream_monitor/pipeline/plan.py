"""The evaluation plan of a reference: which tests run on which feature, at what threshold.

A version builds its plan once, when it starts on a reference: the tests of every
feature resolved from the registry, their configured thresholds and effect floors,
the reference counts on the window's bins, prepared once with what the window tests
derive from them alone (:class:`~stream_monitor.detectors.prepared.PreparedReference`),
and how the false-alarm budget is shared. Every window close then runs the plan
(:func:`~stream_monitor.pipeline.evaluate.evaluate_window`) without looking anything
up or deriving anything from the reference counts again. A rolling reference or a
reference mixed to a window's phase composition has the static reference's features
and bins, so the same plan serves it; only its counts are read from it, and prepared
afresh for that one window close.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from stream_monitor.detectors.base import WindowTest
from stream_monitor.detectors.calibration import Calibrator
from stream_monitor.detectors.prepared import PreparedReference
from stream_monitor.detectors.registry import get_test
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows.accumulators import reference_counts
from stream_monitor.windows.profile import (
    PREDICTION,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    prediction_kind,
)
from stream_monitor.windows.window import Accumulator, Window

__all__ = ["MMD_EFFECT_FLOOR", "EvaluationPlan", "FeaturePlan", "TestPlan"]

# Effect floor of the MMD (sqrt of MMD^2 on random Fourier features).
MMD_EFFECT_FLOOR = 0.05

Profile = NumericProfile | CategoricalProfile


@dataclass(frozen=True, slots=True)
class TestPlan:
    """One test of one feature.

    ``threshold`` is ``alpha`` for a p-value test and the configured threshold of a
    distance test; a calibrated distance test may raise it per window
    (``calibrated``). ``floor`` is a p-value test's smallest effect that may fire.
    """

    name: str
    test: WindowTest
    threshold: float
    floor: float | None
    calibrated: bool

    __test__ = False  # not a pytest class

    @property
    def distance(self) -> bool:
        return self.test.kind == "distance"


@dataclass(frozen=True, slots=True)
class FeaturePlan:
    """The tests of one feature (or of the prediction) and its reference's counts."""

    feature: str
    tests: tuple[TestPlan, ...]
    profile: Profile  # the static reference's profile: ``prepared`` and ``missing`` belong to it
    prepared: PreparedReference  # the reference counts on the window's bins (read-only), prepared once
    missing: float  # the reference's missing rate

    @property
    def bins(self) -> np.ndarray:
        """The reference counts on the window's bins (read-only)."""
        return self.prepared.counts

    @property
    def distance_tests(self) -> int:
        return sum(t.distance for t in self.tests)

    def reference(self, profile: Profile) -> tuple[PreparedReference, float]:
        """The prepared reference counts and missing rate of ``profile``: the planned ones when it
        is the static reference's, else read from it and prepared afresh (a rolling or
        phase-mixed reference)."""
        if profile is self.profile:
            return self.prepared, self.missing
        return PreparedReference(reference_counts(profile)), _missing_rate(profile)


def _missing_rate(profile: Profile) -> float:
    n = profile.n + profile.missing
    return profile.missing / n if n else 0.0


def _bins(profile: Profile) -> np.ndarray:
    bins = reference_counts(profile)
    bins.setflags(write=False)
    return bins


@dataclass(frozen=True, slots=True)
class EvaluationPlan:
    """Everything a window close needs to know about its tests, built from the spec and the
    reference once."""

    features: Mapping[str, FeaturePlan]  # the prediction's plan under PREDICTION
    alpha: float
    shared_budget: bool  # distance thresholds share ``alpha`` over a window's tests (Bonferroni)
    calibrate: bool  # ``threshold_mode: calibrated``
    resamples: int
    seed: int
    min_samples: int
    missing_threshold: float
    mmd_floor: float | None  # set when the MMD runs

    @classmethod
    def build(cls, spec: ModelSpec, reference: ReferenceProfile) -> EvaluationPlan:
        det = spec.detectors
        features: dict[str, FeaturePlan] = {}
        for f in spec.features:  # the window layout's features
            tests = det.numeric if f.type == "numeric" else det.categorical
            features[f.name] = _feature_plan(f.name, reference.features[f.name], tests, spec)
        if reference.prediction is not None:
            kind = prediction_kind(spec)
            tests = det.prediction if det.prediction is not None else (
                det.numeric if kind == "numeric" else det.categorical)
            features[PREDICTION] = _feature_plan(PREDICTION, reference.prediction, tests, spec)
        return cls(
            features=MappingProxyType(features),
            alpha=det.alpha,
            shared_budget=det.correction != "none",
            calibrate=det.threshold_mode != "fixed",
            resamples=det.calibration_resamples,
            seed=det.seed,
            min_samples=det.min_samples,
            missing_threshold=det.missing_rate_threshold,
            mmd_floor=det.effect_floor("mmd", MMD_EFFECT_FLOOR) if "mmd" in det.multivariate else None,
        )

    @property
    def multivariate(self) -> bool:
        return self.mmd_floor is not None

    def calibrator(self, given: Calibrator | None) -> Calibrator | None:
        """The calibrator a window close uses: none with fixed thresholds, else ``given`` or a
        fresh one."""
        if not self.calibrate:
            return None
        return given if given is not None else Calibrator(resamples=self.resamples, seed=self.seed)

    def quantile(self, distance_tests: int) -> float:
        """The null quantile distance thresholds are calibrated at: ``alpha`` shared by the
        window's distance tests unless the correction is ``none``."""
        m = max(distance_tests, 1) if self.shared_budget else 1
        return 1.0 - self.alpha / m

    def jobs(self, window: Window, reference: ReferenceProfile) -> Iterator[tuple[FeaturePlan, Accumulator, Profile]]:
        """(plan, accumulator, reference profile) of every feature seen in the window, in the
        window's order, the prediction last."""
        for name, acc in window.accumulators.items():
            if acc.observed:  # features never sent in this window (e.g. logged elsewhere) are skipped
                yield self.features[name], acc, reference.features[name]
        pred = window.prediction
        if pred is not None and pred.observed and reference.prediction is not None and PREDICTION in self.features:
            yield self.features[PREDICTION], pred, reference.prediction

    def distance_tests(self, window: Window, reference: ReferenceProfile) -> int:
        """How many distance tests a close of ``window`` runs."""
        return sum(plan.distance_tests for plan, _, _ in self.jobs(window, reference))


def _feature_plan(name: str, profile: Profile, tests: list[str], spec: ModelSpec) -> FeaturePlan:
    det = spec.detectors
    ftype: Literal["numeric", "categorical"] = "numeric" if isinstance(profile, NumericProfile) else "categorical"
    planned = []
    for test_name in tests:
        test = get_test(test_name, ftype, psi_bins=det.psi_bins)
        if test.kind == "pvalue":
            planned.append(TestPlan(test_name, test, det.alpha, det.effect_floor(test_name, test.default_effect),
                                    False))
        else:
            planned.append(TestPlan(test_name, test, det.threshold(test_name, test.default_threshold or 0.0), None,
                                    test.batch is not None))
    return FeaturePlan(name, tuple(planned), profile, PreparedReference(_bins(profile)), _missing_rate(profile))
