"""The false-alarm budget: calibrated distance thresholds, k-of-n persistence,
hysteresis, effect-size floors and per-test minimum samples."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from stream_monitor.decisions import PolicyState, Reading, ReferenceInfo, WindowInfo, decide
from stream_monitor.detectors import DetectorState, get_test
from stream_monitor.detectors.calibration import Calibrator, calibrated_quantile, grid_size
from stream_monitor.specs.model import ModelSpec

REF = ReferenceInfo(kind="static", source="t", fingerprint="f", rows=1000)


def _spec(**retrain: object) -> ModelSpec:
    return ModelSpec.model_validate({"model_id": "m", "features": [{"name": "a"}, {"name": "b"}],
                                     "reference": {"learn_first_n": 100}, "retrain": retrain})


def _run(spec: ModelSpec, state: PolicyState, i: int, drift: bool, n: int = 1000):  # type: ignore[no-untyped-def]
    r = [Reading("a", "psi", "psi", 0.5 if drift else 0.01, 0.2, None, False, n, 1000)]
    return decide(r, [], spec, state, model_version="v", window=WindowInfo(index=i, start=i, end=i + 1, events=n),
                  reference=REF, params_hash="h")


def test_k_of_n_enters_on_intermittent_drift() -> None:
    spec, state = _spec(consecutive_windows=2, of_windows=3, cooldown_seconds=0), PolicyState()
    states = [_run(spec, state, i, d)[0].state for i, d in enumerate([True, False, True])]
    assert states == [DetectorState.WARNING, DetectorState.OK, DetectorState.DRIFT]
    consecutive, state2 = _spec(consecutive_windows=2), PolicyState()
    assert [_run(consecutive, state2, i, d)[0].state for i, d in enumerate([True, False, True])][-1] is \
        DetectorState.WARNING


def test_hysteresis_holds_the_drift_state_until_n_clean_windows() -> None:
    spec, state = _spec(consecutive_windows=2, of_windows=3, exit_below=1), PolicyState()
    seq = [True, True, False, False, False, True]
    states = [_run(spec, state, i, d)[0].state.value for i, d in enumerate(seq)]
    assert states == ["warning", "drift", "drift", "drift", "ok", "warning"]
    sym, state2 = _spec(consecutive_windows=2, of_windows=3, exit_below=2), PolicyState()
    assert [_run(sym, state2, i, d)[0].state.value for i, d in enumerate(seq)][:4] == \
        ["warning", "drift", "drift", "ok"]


def test_cooldown_is_per_model_version_and_requests_only_on_drifting_windows() -> None:
    spec, state = _spec(consecutive_windows=1, cooldown_seconds=5), PolicyState()
    fired = [_run(spec, state, i, d)[1] is not None for i, d in enumerate([True, True, False, True, True, True])]
    assert fired == [True, False, False, False, False, True]


def test_policy_state_round_trips_through_the_snapshot_encoding() -> None:
    # The old shape (no k-of-n history) is read by the snapshot's migration from version 1.
    spec, state = _spec(consecutive_windows=2, of_windows=4), PolicyState()
    for i, d in enumerate([True, False, True, True]):
        _run(spec, state, i, d)
    codec = TypeAdapter(PolicyState)
    assert codec.validate_json(codec.dump_json(state)) == state


def test_effect_floor_silences_significant_but_tiny_changes() -> None:
    spec, state = _spec(), PolicyState()
    tiny = Reading("a", "ks", "ks_d", 0.01, 0.01, 1e-12, False, 1_000_000, 20_000, 0.01, 0.05)
    real = Reading("b", "ks", "ks_d", 0.2, 0.01, 1e-12, False, 1_000_000, 20_000, 0.2, 0.05)
    report, _ = decide([tiny, real], [], spec, state, model_version="v",
                       window=WindowInfo(index=0, start=0, end=1, events=1_000_000), reference=REF, params_hash="h")
    assert [r.drift for r in report.readings] == [False, True] and report.drifted == ("b",)


def test_tests_on_too_few_values_never_fire() -> None:
    spec, state = _spec(), PolicyState()
    sparse = Reading("a", "psi", "psi", 5.0, 0.2, None, False, 50, 1000)  # a feature sent in 50 of 1000 events
    report, _ = decide([sparse], [], spec, state, model_version="v",
                       window=WindowInfo(index=0, start=0, end=1, events=1000), reference=REF, params_hash="h")
    assert not report.readings[0].drift and not report.model_drift


def test_config_rejects_incoherent_k_of_n() -> None:
    with pytest.raises(ValueError, match="of_windows"):
        _spec(consecutive_windows=3, of_windows=2)
    with pytest.raises(ValueError, match="exit_below"):
        _spec(consecutive_windows=2, exit_below=3)


@pytest.mark.parametrize("name", ["psi", "jensen_shannon", "hellinger"])
def test_calibrated_thresholds_hold_their_false_alarm_rate(name: str) -> None:
    """At the 99% quantile, fresh null windows exceed the threshold about 1% of the time
    (at most 3.5% of 400: the binomial 99.9% bound plus calibration noise)."""
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(30))
    ref = rng.multinomial(20_000, p)
    test = get_test(name, "categorical")
    thr = Calibrator(resamples=4000, seed=1).threshold("f", test, ref, None, 1000, 0.99)
    stats = test.batch(ref, rng.multinomial(1000, p, size=400), None)  # type: ignore[misc]
    assert np.mean(stats > thr) <= 0.035


def test_calibration_is_deterministic_shrinks_with_n_and_extrapolates_tails() -> None:
    ref = np.full(10, 2000)
    test = get_test("psi", "categorical")
    a, b = Calibrator(seed=3), Calibrator(seed=3)
    thresholds = [a.threshold("x", test, ref, None, n, 0.999) for n in (100, 1000, 10_000)]
    assert thresholds == [b.threshold("x", test, ref, None, n, 0.999) for n in (100, 1000, 10_000)]
    assert thresholds[0] > thresholds[1] > thresholds[2]
    assert grid_size(1000) == grid_size(1010) == 980
    values = np.random.default_rng(0).chisquare(9, 2000)
    far = calibrated_quantile(values, 0.99999)
    assert far > calibrated_quantile(values, 0.995) and far == pytest.approx(40, rel=0.25)  # chi2_9 ppf = 39.3


def test_fixed_threshold_mode_uses_the_configured_floor(demo_spec: ModelSpec, demo_reference) -> None:  # type: ignore[no-untyped-def]
    from stream_monitor.events import PredictionEvent
    from stream_monitor.pipeline.evaluate import evaluate_window
    from stream_monitor.pipeline.plan import EvaluationPlan
    from stream_monitor.tools.simulate import Scenario, generate
    from stream_monitor.windows import Window, WindowLayout

    # Windows below min_samples are never calibrated (their tests cannot fire): allow 120 here.
    demo_spec = demo_spec.model_copy(update={"detectors": demo_spec.detectors.model_copy(update={"min_samples": 100})})
    layout = WindowLayout.build(demo_spec, demo_reference)
    w = Window.empty(0, layout)
    w.add([PredictionEvent.model_validate(e) for e in generate(Scenario(seed=2), 120)], layout)
    fixed = demo_spec.model_copy(update={"detectors": demo_spec.detectors.model_copy(
        update={"threshold_mode": "fixed"})})
    fixed_plan = EvaluationPlan.build(fixed, demo_reference)
    calibrated_plan = EvaluationPlan.build(demo_spec, demo_reference)
    psi_fixed = {r.feature: r.threshold for r in evaluate_window(w, demo_reference, fixed_plan)[0]
                 if r.detector == "psi"}
    psi_cal = {r.feature: r.threshold for r in evaluate_window(w, demo_reference, calibrated_plan)[0]
               if r.detector == "psi"}
    assert set(psi_fixed.values()) == {0.2}
    # 120 values on 10 bins: sampling noise alone exceeds PSI 0.2; the floor still holds everywhere
    assert all(psi_cal[f] > 0.2 for f in ("amount", "age", "account_age_days"))
    assert min(psi_cal.values()) >= 0.2
