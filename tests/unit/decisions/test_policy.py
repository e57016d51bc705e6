"""The decision policy: correction, persistence (K windows), cooldown, severity, ids."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from stream_monitor.decisions import PolicyState, Reading, ReferenceInfo, WindowInfo, decide, reject
from stream_monitor.detectors import DetectorState
from stream_monitor.specs.model import ModelSpec

REF = ReferenceInfo(kind="static", source="t", fingerprint="f", rows=1000)


def _spec(**retrain: object) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "model_id": "m",
            "features": [{"name": "a"}, {"name": "b"}, {"name": "c", "type": "categorical"}],
            "reference": {"learn_first_n": 100},
            "retrain": {"consecutive_windows": 2, "cooldown_seconds": 100, **retrain},
        }
    )


def _readings(drift_a: bool, p_b: float = 0.5, missing: float = 0.0) -> list[Reading]:
    return [
        Reading("a", "psi", "psi", 0.5 if drift_a else 0.01, 0.2, None, False, 1000, 1000),
        Reading("b", "ks", "ks_d", 0.1, 0.01, p_b, False, 1000, 1000),
        Reading("c", "missing_rate", "missing_rate", missing, 0.1, None, False, 1000, 1000),
    ]


def _window(i: int, n: int = 1000) -> WindowInfo:
    return WindowInfo(index=i, start=i * 10.0, end=i * 10.0 + 9, events=n)


def _run(spec: ModelSpec, state: PolicyState, i: int, readings: list[Reading], n: int = 1000):  # type: ignore[no-untyped-def]
    return decide(readings, [], spec, state, model_version="v1", window=_window(i, n), reference=REF, params_hash="h")


def test_request_after_k_consecutive_windows_then_cooldown() -> None:
    spec, state = _spec(), PolicyState()
    r0, q0 = _run(spec, state, 0, _readings(True))
    assert q0 is None and r0.state is DetectorState.WARNING and r0.drifted == ("a",)
    r1, q1 = _run(spec, state, 1, _readings(True))
    assert q1 is not None and r1.state is DetectorState.DRIFT and r1.request_id == q1.request_id
    assert q1.reasons[0].feature == "a" and q1.reasons[0].window.index == 1 and q1.consecutive_windows == 2
    # still drifting, inside the cooldown (window ends at 29 < 19 + 100): no new request
    for i in range(2, 11):
        assert _run(spec, state, i, _readings(True))[1] is None
    # window 11 ends at 119 >= 119: the cooldown is over
    assert _run(spec, state, 11, _readings(True))[1] is not None


def test_a_quiet_window_resets_the_streak() -> None:
    spec, state = _spec(), PolicyState()
    _run(spec, state, 0, _readings(True))
    r, _ = _run(spec, state, 1, _readings(False))
    assert r.state is DetectorState.OK and state.streak == 0
    assert _run(spec, state, 2, _readings(True))[1] is None


def test_insufficient_windows_never_fire_and_keep_the_streak() -> None:
    spec, state = _spec(), PolicyState()
    _run(spec, state, 0, _readings(True))
    r, q = _run(spec, state, 1, _readings(True), n=50)
    assert r.insufficient and not r.model_drift and q is None and state.streak == 1


def test_bonferroni_applies_to_p_value_tests_only() -> None:
    spec, state = _spec(), PolicyState()
    r, _ = _run(spec, state, 0, _readings(False, p_b=0.009))
    ks = next(x for x in r.readings if x.detector == "ks")
    assert ks.threshold == 0.01 and ks.drift  # one p-value test: alpha / 1
    assert reject([0.009, 0.009], 0.01, "bonferroni") == ([False, False], 0.005)


def test_data_quality_alone_does_not_request_retraining_unless_configured() -> None:
    spec, state = _spec(), PolicyState()
    r, _ = _run(spec, state, 0, _readings(False, missing=0.5))
    assert not r.model_drift and any(x.drift for x in r.readings if x.detector == "missing_rate")
    spec2, state2 = _spec(include_data_quality=True), PolicyState()
    r2, _ = _run(spec2, state2, 0, _readings(False, missing=0.5))
    assert r2.model_drift and r2.drifted == ("c",)


def test_request_ids_are_deterministic_and_state_roundtrips() -> None:
    spec = _spec()
    ids = []
    for _ in range(2):
        state = PolicyState()
        _run(spec, state, 0, _readings(True))
        ids.append(_run(spec, state, 1, _readings(True))[1].request_id)  # type: ignore[union-attr]
        assert TypeAdapter(PolicyState).validate_json(TypeAdapter(PolicyState).dump_json(state)) == state
    assert ids[0] == ids[1]


def test_severity_is_critical_when_half_the_features_drift() -> None:
    spec, state = _spec(consecutive_windows=1), PolicyState()
    readings = _readings(True, p_b=1e-9)
    r, q = _run(spec, state, 0, readings)
    assert r.severity == "critical" and q is not None and q.severity == "critical"


def test_decided_reading_equals_dataclasses_replace() -> None:
    """``_decided`` rebuilds a reading field by field (faster than ``dataclasses.replace``):
    it must carry every field, including any added later."""
    import dataclasses

    from stream_monitor.decisions.policy import _decided

    values: dict[str, object] = {
        "feature": "f", "detector": "ks", "statistic": "d", "value": 0.25, "threshold": 0.5, "p_value": 0.01,
        "drift": False, "n": 900, "n_reference": 20_000, "effect": 0.12, "effect_floor": 0.05,
        "reference": "rolling", "baseline": 0.9, "se": 0.01, "attribute": "region", "family": "fairness",
    }
    assert set(values) == {f.name for f in dataclasses.fields(Reading)}
    r = Reading(**values)  # type: ignore[arg-type]
    assert _decided(r, True) == dataclasses.replace(r, drift=True)
    assert _decided(r, True, 0.002) == dataclasses.replace(r, drift=True, threshold=0.002)


def test_every_family_is_corrected_over_its_window_at_its_level() -> None:
    """One judge for both paths: performance readings share labels.alpha (Bonferroni over the
    window's comparisons), drift tests detectors.alpha; a label reading keeps its tolerance as
    threshold and fires only when its drop also reaches ``min_drop``."""
    from stream_monitor.decisions.judge import judge, level
    from stream_monitor.detectors.reading import label_reading
    from stream_monitor.tools.simulate_labels import labelled_model_config

    spec = ModelSpec.model_validate(labelled_model_config(labels={"alpha": 0.01}))

    def perf(name: str, p: float, drop: float = 0.05, floor: float | None = None) -> Reading:
        return label_reading("performance", name, name, 0.7, 0.75, 0.75 - (floor or 0.0), 1000, p_value=p,
                             effect=drop, effect_floor=floor, family="performance")

    alone = judge([perf("accuracy", 0.004)], spec, insufficient=False, min_samples=0)
    three = judge([perf("accuracy", 0.004), perf("f1", 0.004), perf("recall", 0.5)], spec, insufficient=False,
                  min_samples=0)
    assert [r.drift for r in alone] == [True] and not any(r.drift for r in three)
    assert alone[0].threshold == 0.75  # the tolerance, not the level
    small = judge([perf("accuracy", 1e-9, drop=0.01, floor=0.02)], spec, insufficient=False, min_samples=0)
    assert not small[0].drift  # significant, but below the configured min_drop
    assert not judge([perf("accuracy", 1e-9)], spec, insufficient=True, min_samples=0)[0].drift
    drift = [Reading("x1", "ks", "ks_d", 0.1, 0.01, 0.004, False, 1000, 1000), perf("accuracy", 0.004)]
    mixed = judge(drift, spec, insufficient=False, min_samples=200)
    assert [r.drift for r in mixed] == [True, True] and mixed[0].threshold == 0.01  # separate families
    assert level(spec, "performance") == (0.01, "bonferroni")
    with pytest.raises(ValueError, match="no level"):
        level(spec, "unknown")

