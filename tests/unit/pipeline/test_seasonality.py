"""Seasonal traffic is not drift: phase-matched references (``seasonality`` in the model config).

The stream (:mod:`stream_monitor.tools.seasonal_streams`) has a daily cycle in
every feature but one (means, scales and the category mix follow the time of
day) at 0.25 events per second on average, so a window of 1,000 events covers
about an hour of a day. The reference covers four whole days.

Expectations, seeded:

* false alarms: with seasonality on, three days of traffic that follows the
  reference's cycle make 0 retrain requests, for four (stream, reference draw)
  pairs; with seasonality off, the same traffic makes requests (the cycle is
  taken for drift) -- that is what the feature is for;
* power: a cycle that changes (phase shifted by 6 hours, or amplitude doubled)
  is found: a retrain request within the day after the change.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from pydantic import ValidationError

from stream_monitor.events import PredictionEvent
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.seasonal_streams import DAY, CycleChange, model_config, prediction_events, rows_between
from stream_monitor.windows.profile import ReferenceProfile, build_profile
from stream_monitor.windows.seasonal import PHASE_UNIT, phase_weights

T0 = 1_767_225_600.0  # a midnight, UTC
RATE = 0.25  # events per second: a 1,000-event window is about an hour
SEASONAL = {"period": "1d", "buckets": 24}


def _spec(seasonal: bool = True) -> ModelSpec:
    return ModelSpec.model_validate(model_config(**({"seasonality": SEASONAL} if seasonal else {})))


@cache
def _reference(seed: int) -> ReferenceProfile:
    """Four whole days of reference, profiled per phase bucket."""
    return build_profile(_spec(), rows_between(T0, T0 + 4 * DAY, seed=seed, rate=RATE), source=f"ref {seed}")


def _events(seed: int, days: float, change: CycleChange | None = None) -> list[PredictionEvent]:
    start = T0 + 4 * DAY
    return [PredictionEvent.model_validate(e)
            for e in prediction_events(start, start + days * DAY, seed=seed, rate=RATE, change=change)]


def _run(mon: ModelMonitor, events: list[PredictionEvent], batch: int = 1_500) -> tuple[list, list]:
    reports, requests = [], []
    for i in range(0, len(events), batch):
        out = mon.observe(events[i:i + batch])
        reports.extend(out.reports)
        requests.extend(out.requests)
    return reports, requests


# -- configuration -------------------------------------------------------------------


def test_config_parses_durations_and_defaults_to_off() -> None:
    spec = _spec()
    assert spec.seasonality is not None
    assert (spec.seasonality.period, spec.seasonality.buckets) == (86_400.0, 24)
    week = ModelSpec.model_validate(model_config(seasonality={"period": "7d", "buckets": 168, "offset": "-5h"}))
    assert week.seasonality is not None and (week.seasonality.period, week.seasonality.offset) == (604_800.0, -18_000.0)
    assert ModelSpec.model_validate(model_config()).seasonality is None
    assert ModelSpec.model_validate(model_config(seasonality="none")).seasonality is None


@pytest.mark.parametrize("bad", [
    {"seasonality": {"period": "one day"}},
    {"seasonality": {"period": "10s"}},
    {"seasonality": {"period": "1d", "buckets": 1}},
    {"seasonality": SEASONAL, "reference": {"learn_first_n": 1000}},
    {"seasonality": SEASONAL, "reference": {"path": "r.jsonl", "rolling_windows": 3}},
    {"seasonality": SEASONAL, "detectors": {"streaming": [{"kind": "adwin"}]}},
])
def test_config_refuses_what_cannot_work(bad: dict) -> None:
    with pytest.raises(ValidationError):
        ModelSpec.model_validate(model_config(**bad))


def test_off_keeps_the_parameter_hash_and_the_profile_bytes() -> None:
    # The hash of this config before seasonality existed (computed on the code without it).
    assert _spec(seasonal=False).params_hash() == "85bcd1210326e14a"
    assert _spec().params_hash() != "85bcd1210326e14a"
    rows = list(rows_between(T0, T0 + DAY, seed=5, rate=0.2))
    off = build_profile(_spec(seasonal=False), rows, source="r")
    on = build_profile(_spec(), rows, source="r")
    assert "seasonal" not in json.loads(off.model_dump_json())
    assert on.seasonal is not None
    assert on.model_copy(update={"seasonal": None}).model_dump_json() == off.model_dump_json()


def test_a_reference_without_whole_cycles_is_refused() -> None:
    with pytest.raises(ValueError, match="whole periods"):
        build_profile(_spec(), rows_between(T0, T0 + 0.5 * DAY, seed=1, rate=0.05), source="half a day")
    thin = ModelSpec.model_validate(model_config(seasonality={**SEASONAL, "min_bucket_rows": 500}))
    with pytest.raises(ValueError, match="fewer than 500"):
        build_profile(thin, rows_between(T0, T0 + DAY, seed=1, rate=0.05), source="one thin day")
    with pytest.raises(ValueError, match="event time"):
        build_profile(_spec(), [{"load": 1.0}], source="no times")


def test_a_reference_without_a_seasonal_profile_is_refused_at_start() -> None:
    plain = build_profile(_spec(seasonal=False), rows_between(T0, T0 + DAY, seed=5, rate=0.2), source="r")
    with pytest.raises(ValueError, match="per-phase profile"):
        ModelMonitor(_spec(), plain)


def test_phase_weights_are_linear_between_bucket_centres_and_exact() -> None:
    ts = T0 + np.array([0.0, 1_800.0, 2_700.0, DAY - 1.0])
    lo, hi, w = phase_weights(ts, DAY, 24)
    assert lo.tolist() == [23, 0, 0, 23] and hi.tolist() == [0, 1, 1, 0]
    assert (w / PHASE_UNIT).round(3).tolist() == [0.5, 0.0, 0.25, 0.5]
    season = _reference(101).seasonal
    assert season is not None and season.cycles >= 3.99
    many = T0 + np.random.default_rng(0).uniform(0, DAY, 5_000)
    whole = season.composition(*season.weights_of(many))
    parts = sum(season.composition(*season.weights_of(p)) for p in np.array_split(many, 7))
    assert whole.tolist() == parts.tolist() and int(whole.sum()) == 5_000 * PHASE_UNIT


def test_the_seasonal_profile_round_trips() -> None:
    ref = _reference(101)
    again = ReferenceProfile.model_validate_json(ref.model_dump_json())
    assert again == ref and again.fingerprint() == ref.fingerprint()


# -- false alarms and power ------------------------------------------------------------


@pytest.mark.parametrize(("stream_seed", "reference_seed"), [(1, 101), (2, 102), (3, 103), (4, 102)])
def test_traffic_that_follows_the_reference_cycle_makes_no_request(stream_seed: int, reference_seed: int) -> None:
    events = _events(stream_seed, 3)
    reports, requests = _run(ModelMonitor(_spec(), _reference(reference_seed)), events)
    assert len(reports) >= 60  # ~70 windows of about an hour over three days
    assert requests == []
    drifted = sum(r.model_drift for r in reports)
    assert drifted <= 3, drifted  # single windows may fire at the tests' own alpha; none persist


def test_without_seasonality_the_same_cycle_is_taken_for_drift() -> None:
    ref = _reference(101)
    plain = ref.model_copy(update={"seasonal": None})  # the same whole reference, no phases
    reports, requests = _run(ModelMonitor(_spec(seasonal=False), plain), _events(1, 1))
    assert len(requests) >= 3
    assert sum(r.model_drift for r in reports) >= 0.8 * len(reports)


@pytest.mark.parametrize("change", [CycleChange(at=T0 + 5 * DAY, shift_hours=6),
                                    CycleChange(at=T0 + 5 * DAY, amplitude=2.0)], ids=["shift_6h", "amplitude_x2"])
def test_a_cycle_that_changes_is_found(change: CycleChange) -> None:
    reports, requests = _run(ModelMonitor(_spec(), _reference(101)), _events(1, 2, change))
    assert requests, "the changed cycle was not found"
    first = requests[0]
    assert change.at <= first.created_at <= change.at + DAY
    before = [r for r in reports if r.window.end < change.at]
    assert not any(r.state.value == "drift" for r in before)


# -- exactly-once recovery ---------------------------------------------------------------------


def test_restore_gives_identical_results() -> None:
    spec, ref = _spec(), _reference(102)
    change = CycleChange(at=T0 + 4.6 * DAY, shift_hours=6)
    events = _events(7, 1, change)
    whole = ModelMonitor(spec, ref)
    reports, requests = _run(whole, events, batch=777)
    first = ModelMonitor(spec, ref)
    cut = len(events) // 2 + 123  # mid-window
    r1, q1 = _run(first, events[:cut], batch=1_000)
    state = first.to_state()
    assert any(v.phases is not None for v in state.versions.values())
    second = ModelMonitor(spec, ref)
    assert second.load_state(type(state).model_validate_json(state.model_dump_json()))
    r2, q2 = _run(second, events[cut:], batch=333)
    assert [repr(r) for r in r1 + r2] == [repr(r) for r in reports]
    assert [q.model_dump_json() for q in q1 + q2] == [q.model_dump_json() for q in requests]
    assert requests  # the restored run decided something, not only silence
    # The new state (phase composition of the open window) and what it drives agree exactly;
    # the windows' float sums depend on how batches were cut, as without seasonality.
    for key in ("phases", "cusum", "policy"):
        assert [getattr(v, key) for v in second.to_state().versions.values()] == \
            [getattr(v, key) for v in whole.to_state().versions.values()], key


def test_reference_files_with_iso_times_are_profiled_and_poor_ones_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from stream_monitor.config.references import build_from_file
    from stream_monitor.errors import ReferenceError_

    rows = list(rows_between(T0, T0 + DAY, seed=5, rate=0.2))
    path = tmp_path / "reference.jsonl"
    path.write_text("".join(json.dumps({**r, "timestamp": datetime.fromtimestamp(r["timestamp"], UTC).isoformat()})
                            + "\n" for r in rows))
    profile = build_from_file(_spec(), path)
    assert profile.seasonal is not None and sum(profile.seasonal.rows) == len(rows)
    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps(r) + "\n" for r in rows[: len(rows) // 3]))
    with pytest.raises(ReferenceError_, match="whole periods"):
        build_from_file(_spec(), short)


@pytest.mark.parametrize("module", ["stream_monitor.windows.seasonal", "stream_monitor.pipeline.seasonal",
                                    "stream_monitor.tools.seasonal_streams"])
def test_doctests(module: str) -> None:
    import doctest
    import importlib

    failed, tried = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0
