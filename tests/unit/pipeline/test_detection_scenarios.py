"""Detection evidence with fixed seeds: every shift scenario is detected within a
stated number of events, naming the right features; stationary traffic stays
within the false-alarm budget.

Bounds with the defaults (sequential CUSUMs on, windows of 1000 events): the
retrain request comes at most 150 events after the change point for abrupt,
variance, new-category and correlation changes, at most 2500 for the gradual
one (the shift grows linearly over 5000 events; measured delays on twenty seeds:
6-63 and 1155-1582, ``benchmarks/detection.py``). The first request names the
streams that alarmed first, so it may name only some of the changed features
(never an unchanged input); the window tests name all of them within two more
windows.

Bounds with window tests only (k = 2 consecutive drifting windows): at most
3000 events (the window holding the change point, at most partly changed, plus
two full windows), 6000 for the gradual change. No request may come before the
change point in either mode.

The budget on stationary traffic: the CUSUMs expect at most 10 alarms per
million events (``false_alarms_per_million``; a bound, measured 0 in 210,000
events); for the window tests alpha = 0.01 is the family-wise false-alarm rate
of one window, and a request needs two drifting windows in a row (expected
500 x 0.01^2 = 0.05 in 500 windows). The slow test checks 500,000 events x 30
features: at most 12 drifting windows (1% of 500 plus binomial slack) and no
drift decision at all (the CUSUM bound allows 5 in expectation; 0 is what a
bound this conservative gives).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from stream_monitor.decisions.request import RetrainRequest
from stream_monitor.events import PredictionEvent
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.windows.profile import MULTIVARIATE, PREDICTION, ReferenceProfile, build_profile
from tests.conftest import make_monitor, records, window_tests_only

WINDOW_BOUNDS = {"abrupt": 3000, "variance": 3000, "new_category": 3000, "correlation": 3000, "gradual": 6000}
SEQUENTIAL_BOUNDS = {"abrupt": 150, "variance": 150, "new_category": 150, "correlation": 150, "gradual": 2500}
CHANGE_AT = 10_500  # mid-window: the change point window is only half changed
INPUTS = {"amount", "age", "account_age_days", "merchant_category", "country"}


def _first_request(out: Any) -> tuple[int, RetrainRequest, set[str]]:
    """Events seen when the first request was made, the request, and every feature
    reported drifting up to two windows later."""
    seen, found, drifted, after = 0, None, set(), 0
    for r in out.reports:
        seen += r.window.events
        if found is not None:
            after += 1
            if after > 2:
                break
        drifted |= set(r.drifted)
        if found is None and r.request_id is not None:
            found = (seen, next(q for q in out.requests if q.request_id == r.request_id))
    assert found is not None, "no retrain request"
    return found[0], found[1], drifted


@pytest.mark.parametrize("kind", sorted(SEQUENTIAL_BOUNDS))
def test_shift_detected_within_bound_by_the_defaults(
    kind: str, demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    scenario = Scenario(kind=kind, change_at=CHANGE_AT, seed=31)  # type: ignore[arg-type]
    mon = make_monitor(demo_spec, demo_reference)
    out = mon.observe(records(generate(scenario, CHANGE_AT + SEQUENTIAL_BOUNDS[kind] + 3000)), now=0)
    detected_at, req, drifted = _first_request(out)
    assert CHANGE_AT < detected_at <= CHANGE_AT + SEQUENTIAL_BOUNDS[kind], (kind, detected_at)
    named = {r.feature for r in req.reasons}
    expected = set(scenario.changed_features()) or {MULTIVARIATE}
    assert named & (expected | {PREDICTION}), (kind, named)
    assert not (named & INPUTS) - expected, (kind, named)  # no innocent input feature blamed
    assert any(r.detector == "cusum" for r in req.reasons)
    assert expected <= drifted and not (drifted & INPUTS) - expected, (kind, drifted)


@pytest.mark.parametrize("kind", sorted(WINDOW_BOUNDS))
def test_shift_detected_within_bound_by_window_tests_alone(
    kind: str, demo_spec: ModelSpec, demo_reference: ReferenceProfile
) -> None:
    scenario = Scenario(kind=kind, change_at=CHANGE_AT, seed=31)  # type: ignore[arg-type]
    mon = make_monitor(window_tests_only(demo_spec), demo_reference)
    out = mon.observe(records(generate(scenario, CHANGE_AT + WINDOW_BOUNDS[kind] + 1000)), now=0)
    detected_at, req, _ = _first_request(out)
    assert detected_at == (req.reasons[0].window.index + 1) * 1000  # whole windows only
    assert CHANGE_AT < detected_at <= CHANGE_AT + WINDOW_BOUNDS[kind], (kind, detected_at)
    named = {r.feature for r in req.reasons}
    expected = set(scenario.changed_features()) or {MULTIVARIATE}
    assert expected <= named, (kind, named)
    assert not (named & INPUTS) - expected, (kind, named)  # no innocent input feature blamed


def test_stationary_demo_stream_is_quiet(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    mon = make_monitor(demo_spec, demo_reference)
    out = mon.observe(records(generate(Scenario(kind="stationary", seed=32), 60_000)), now=0)
    assert not out.requests and sum(r.model_drift for r in out.reports) <= 3


# -- 30 features, half a million events ------------------------------------------------

def _wide_spec() -> ModelSpec:
    features = [{"name": f"x{i}"} for i in range(20)] + [{"name": f"c{i}", "type": "categorical"} for i in range(10)]
    return ModelSpec.model_validate({"model_id": "wide", "features": features,
                                     "reference": {"learn_first_n": 100}})


_CATS = [f"k{j}" for j in range(8)]
_CAT_P = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])


def _wide_rows(rng: np.random.Generator, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    z = rng.standard_normal((n, 20))
    z[:, 1] = 0.7 * z[:, 0] + np.sqrt(1 - 0.49) * z[:, 1]  # some correlated pairs
    cols: dict[str, np.ndarray] = {}
    for i in range(20):
        kind = i % 4
        x = z[:, i]
        cols[f"x{i}"] = (x if kind == 0 else np.exp(0.8 * x) if kind == 1 else np.round(50 + 10 * x)
                         if kind == 2 else rng.exponential(3.0, n))
    for i in range(10):
        cols[f"c{i}"] = np.array(_CATS, dtype=object)[rng.choice(8, n, p=_CAT_P)]
    score = 1 / (1 + np.exp(-(z[:, 0] - 2)))
    return cols, score


def _events(cols: dict[str, np.ndarray], score: np.ndarray, start: int) -> list[PredictionEvent]:
    names = list(cols)
    out = []
    for j in range(score.size):
        feats: dict[str, Any] = {k: (float(cols[k][j]) if k[0] == "x" else str(cols[k][j])) for k in names}
        out.append(PredictionEvent.model_construct(
            event_id=str(start + j), model_id="wide", model_version="v1", timestamp=float(start + j),
            features=feats, score=float(score[j]), prediction=None, latency_ms=None, attributes=None, kind="prediction",
        ))
    return out


@pytest.mark.slow
def test_stationary_500k_events_30_features_stays_within_budget() -> None:
    spec = _wide_spec()
    rng = np.random.default_rng(2026)
    cols, score = _wide_rows(rng, 20_000)
    rows = [{**{k: (float(v[j]) if k[0] == "x" else str(v[j])) for k, v in cols.items()}, "score": float(score[j])}
            for j in range(score.size)]
    ref = build_profile(spec, rows, source="wide reference")
    mon = ModelMonitor(spec, ref)
    reports = []
    for start in range(0, 500_000, 50_000):
        cols, score = _wide_rows(rng, 50_000)
        out = mon.observe(_events(cols, score, start))
        reports.extend(out.reports)
        assert not out.requests
    assert len(reports) == 500
    drifting = sum(r.model_drift for r in reports)
    assert drifting <= 12, drifting
    assert all(r.state.value != "drift" for r in reports)
