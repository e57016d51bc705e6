"""Streaming detectors: identical to river's, exact snapshots, wired into windows."""

from __future__ import annotations

import numpy as np
import pytest
from river import drift

from stream_monitor.detectors import build_streaming, restore_streaming
from stream_monitor.detectors.state import StreamingState
from stream_monitor.detectors.streaming import build_concept, check_model_spec, restore_concept
from stream_monitor.pipeline.monitor import Monitor
from stream_monitor.specs.detection import StreamingSpec
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.windows.profile import ReferenceProfile
from tests.conftest import make_monitor, records, window_tests_only


def _stream(seed: int, n: int = 6000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, n // 2), rng.normal(0.6, 1.3, n // 2)])


def _fired(det, xs: np.ndarray) -> list[int]:  # type: ignore[no-untyped-def]
    out = []
    for i, x in enumerate(xs):
        det.update(float(x))
        if det.drift_detected:
            out.append(i)
    return out


@pytest.mark.parametrize(("kind", "river_cls", "params"), [
    ("adwin", drift.ADWIN, {}),
    ("adwin", drift.ADWIN, {"delta": 0.2, "clock": 4}),
    ("kswin", drift.KSWIN, {"alpha": 0.001, "seed": 3}),
    ("page_hinkley", drift.PageHinkley, {"threshold": 20.0}),
])
def test_same_detections_as_river(kind: str, river_cls: type, params: dict) -> None:  # type: ignore[type-arg]
    for seed in range(1 if kind == "kswin" else 3):  # KSWIN costs ~150 us per update
        xs = _stream(seed, 1600 if kind == "kswin" else 8000)
        ours = _fired(build_streaming(kind, params), xs)
        theirs = _fired(river_cls(**params), xs)
        assert ours == theirs and ours  # and they do fire


@pytest.mark.parametrize("kind", ["adwin", "kswin", "page_hinkley"])
def test_snapshot_restore_continues_identically(kind: str) -> None:
    xs = _stream(7, 3000)
    a = build_streaming(kind, {}, every=1)
    for x in xs[:1700]:
        a.update(float(x))
    b = restore_streaming(StreamingState.model_validate_json(a.to_state().model_dump_json()))
    assert _fired(a, xs[1700:]) == _fired(b, xs[1700:])
    assert a.to_state() == b.to_state()


def test_non_finite_values_are_counted_and_subsampling_skips() -> None:
    det = build_streaming("page_hinkley", {}, every=3)
    for x in [1.0, float("nan"), 2.0, float("inf"), 5.0, 6.0, float("nan")]:
        det.update(x)
    assert (det.seen, det.updates, det.skipped) == (7, 1, 2)  # fed: 1.0, inf, nan
    with pytest.raises(ValueError):
        build_streaming("adwin", {"delta": 2.0})
    with pytest.raises(TypeError):
        build_streaming("adwin", {"nope": 1})


def test_config_validates_streaming_params() -> None:
    # The spec holds the parameters; the detectors say whether they build (ServiceSettings,
    # compare() and the Monitor run the check).
    base = {"model_id": "m", "features": [{"name": "a"}], "reference": {"learn_first_n": 100}}
    bad = ModelSpec.model_validate({**base, "detectors": {"streaming": [{"kind": "adwin", "params": {"x": 1}}]}})
    with pytest.raises(ValueError, match="adwin"):
        check_model_spec(bad)
    with pytest.raises(ValueError, match="detectors.streaming.0: adwin"):
        Monitor([bad], {"m": None}, max_message_bytes=1 << 20)
    ok = check_model_spec(ModelSpec.model_validate({**base, "detectors": {"streaming": [
        {"kind": "adwin", "params": {"delta": 0.001}}, {"kind": "kswin", "every": 20}]}}))
    assert [s.kind for s in ok.detectors.streaming] == ["adwin", "kswin"]


def test_streaming_readings_in_windows_and_snapshots(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    streaming = [StreamingSpec(kind="adwin", params={"delta": 0.002})]
    demo_spec = window_tests_only(demo_spec)  # whole windows of 1000: no early close by the CUSUMs
    spec = demo_spec.model_copy(update={"detectors": demo_spec.detectors.model_copy(update={"streaming": streaming})})
    events = list(generate(Scenario(kind="abrupt", change_at=3000, seed=4), 6000))
    straight = make_monitor(spec, demo_reference)
    out = straight.observe(records(events), now=0)
    adwin = [x for r in out.reports for x in r.readings if x.detector == "adwin"]
    assert len(adwin) == 6 and sum(x.value for x in adwin[:3]) == 0 and sum(x.value for x in adwin[3:]) >= 1
    first = make_monitor(spec, demo_reference)
    first.observe(records(events[:3333]), now=0)
    second = make_monitor(spec, demo_reference)
    second.restore(first.snapshot())
    second.observe(records(events[3333:], start=3333), now=0)
    assert second.to_state() == straight.to_state()


@pytest.mark.parametrize("cut", [10, 2500])  # before DDM has a minimum (stored as null), and after
def test_ddm_snapshot_restore_continues_identically(cut: int) -> None:
    rng = np.random.default_rng(cut)
    errors = (rng.random(5000) < np.where(np.arange(5000) < 3000, 0.1, 0.3)).astype(float)
    a = build_concept("ddm", {})
    for x in errors[:cut]:
        a.update(float(x))
    stored = a.to_state().model_dump_json()
    b = restore_concept(StreamingState.model_validate_json(stored))
    assert b.to_state().model_dump_json() == stored
    assert ('"ps_min":null' in stored) == (cut == 10)
    fired = _fired(a, errors[cut:])
    assert fired and fired == _fired(b, errors[cut:])  # the rise at 3,000 is detected by both
    assert a.to_state() == b.to_state()
