"""The evaluation plan: built once per reference, and what a window close runs."""

from __future__ import annotations

import numpy as np
import pytest

from stream_monitor.detectors import TestInput, registry
from stream_monitor.events import PredictionEvent
from stream_monitor.pipeline import plan as plan_module
from stream_monitor.pipeline.evaluate import evaluate_window, rolling_profile
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.pipeline.plan import EvaluationPlan
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.windows.accumulators import reference_counts
from stream_monitor.windows.profile import PREDICTION, ReferenceProfile
from stream_monitor.windows.window import Window, WindowLayout


def _events(n: int, seed: int, version: str = "v1") -> list[PredictionEvent]:
    return [PredictionEvent.model_validate({**e, "model_version": version}) for e in generate(Scenario(seed=seed), n)]


def test_a_version_plans_once_and_no_window_close_looks_a_test_up(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[str] = []
    lookups: list[str] = []
    real_build, real_get = EvaluationPlan.build.__func__, registry.get_test  # type: ignore[attr-defined]

    def build(cls: type[EvaluationPlan], spec: ModelSpec, reference: ReferenceProfile) -> EvaluationPlan:
        builds.append(reference.source)
        return real_build(cls, spec, reference)  # type: ignore[no-any-return]

    def get_test(*args: object, **kwargs: object) -> object:
        lookups.append(str(args[0]))
        return real_get(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(EvaluationPlan, "build", classmethod(build))
    monkeypatch.setattr(plan_module, "get_test", get_test)
    monitor = ModelMonitor(demo_spec, demo_reference)
    windows = 0
    for i in range(6):  # 6 x 1,000 events: several window closes per version
        windows += len(monitor.observe(_events(1000, seed=i)).reports)
        windows += len(monitor.observe(_events(1000, seed=100 + i, version="v2")).reports)
    assert windows >= 6
    assert builds == [demo_reference.source, demo_reference.source]  # v1 and v2, each once
    planned = monitor.versions["v1"].plan
    assert planned is not None
    steps = sum(len(p.tests) for p in planned.features.values())
    assert len(lookups) == 2 * steps > 0  # the lookups of the two builds, none per window


def test_the_plan_holds_the_configured_tests_thresholds_and_budget(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    det = demo_spec.detectors
    plan = EvaluationPlan.build(demo_spec, demo_reference)
    assert list(plan.features) == [f.name for f in demo_spec.features] + [PREDICTION]
    for f in demo_spec.features:
        configured = det.numeric if f.type == "numeric" else det.categorical
        steps = plan.features[f.name].tests
        assert [s.name for s in steps] == configured
        for s in steps:
            if s.distance:
                assert s.threshold == det.threshold(s.name, s.test.default_threshold or 0.0)
                assert s.floor is None and s.calibrated == (s.test.batch is not None)
            else:
                assert s.threshold == det.alpha and not s.calibrated
    distance = sum(p.distance_tests for p in plan.features.values())
    assert plan.quantile(distance) == pytest.approx(1 - det.alpha / distance)
    unshared = EvaluationPlan.build(
        demo_spec.model_copy(update={"detectors": det.model_copy(update={"correction": "none"})}), demo_reference)
    assert unshared.quantile(distance) == 1 - det.alpha


def test_planned_counts_are_the_static_references_and_another_profile_is_read(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    plan = EvaluationPlan.build(demo_spec, demo_reference)
    amount = plan.features["amount"]
    prepared, missing = amount.reference(demo_reference.features["amount"])
    assert prepared is amount.prepared and prepared.counts is amount.bins and not amount.bins.flags.writeable
    assert amount.bins.tolist() == list(demo_reference.features["amount"].counts)
    shifted = demo_reference.features["amount"].model_copy(
        update={"counts": tuple(c + 1 for c in demo_reference.features["amount"].counts), "missing": 7})
    other, other_missing = amount.reference(shifted)
    assert other is not amount.prepared and other.counts.tolist() == list(shifted.counts)
    assert other_missing == 7 / (shifted.n + 7) and missing != other_missing


def _window(spec: ModelSpec, reference: ReferenceProfile, seed: int) -> Window:
    layout = WindowLayout.build(spec, reference)
    window = Window.empty(0, layout)
    window.add(_events(1000, seed), layout)
    return window


def test_window_tests_answer_from_the_prepared_reference_what_they_compute_from_the_counts(
    demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    """The static reference's derived quantities come from the plan, a rolling reference's are
    derived for the close: either way every test gives what it gives on the raw counts."""
    plan = EvaluationPlan.build(demo_spec, demo_reference)
    window = _window(demo_spec, demo_reference, 3)
    rolling = rolling_profile(demo_reference, [_window(demo_spec, demo_reference, s) for s in (1, 2)])
    assert rolling is not None
    for reference in (demo_reference, rolling, demo_reference):  # the static one again: from the plan
        readings, _ = evaluate_window(window, reference, plan)
        values = {(r.feature, r.detector): (r.value, r.p_value, r.effect, r.n_reference) for r in readings}
        for feature_plan, acc, prof in plan.jobs(window, reference):
            prepared, _ = feature_plan.reference(prof)
            assert (prepared is feature_plan.prepared) == (reference is demo_reference)
            counts = np.array(reference_counts(prof))  # fresh raw counts
            assert np.array_equal(prepared.counts, counts)
            assert (reference is demo_reference) or not np.array_equal(counts, feature_plan.bins)
            for step in feature_plan.tests:
                raw = step.test.run(TestInput(counts, acc.counts, acc, prof))
                assert step.test.run(TestInput(prepared, acc.counts, acc, prof)) == raw
                assert values[feature_plan.feature, step.name] == (raw.value, raw.p_value, raw.effect,
                                                                   int(counts.sum()))
