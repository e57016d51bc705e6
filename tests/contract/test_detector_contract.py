"""One suite over every registered window test and streaming detector (river's
``checks/common.py`` idea): inputs are not mutated, restored snapshots behave
identically, seeded runs repeat, defaults are immutable, docstrings exist."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from stream_monitor.detectors import STREAMING, WINDOW_TESTS, TestInput, build_streaming, get_test, restore_streaming
from stream_monitor.detectors.state import StreamingState
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows import CategoricalAccumulator, NumericAccumulator, binning_for, build_profile

CASES = [(name, ftype) for name, t in WINDOW_TESTS.items() for ftype in sorted(t.applies_to)]


def _input(ftype: str, seed: int, shift: float = 0.0) -> TestInput:
    rng = np.random.default_rng(seed)
    if ftype == "numeric":
        spec = ModelSpec.model_validate({"model_id": "m", "features": [{"name": "x"}],
                                         "reference": {"learn_first_n": 100, "sample_rows": 0}})
        prof = build_profile(spec, ({"x": float(v)} for v in rng.gamma(2.0, 3.0, 5000)), source="c").features["x"]
        b = binning_for(prof)
        acc = NumericAccumulator.empty(b)
        acc.update(rng.gamma(2.0, 3.0, 800) + shift, b)
    else:
        spec = ModelSpec.model_validate({"model_id": "m", "features": [{"name": "x", "type": "categorical"}],
                                         "reference": {"learn_first_n": 100}})
        keys = [f"k{i}" for i in rng.choice(6, 5000, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])]
        prof = build_profile(spec, ({"x": k} for k in keys), source="c").features["x"]
        b = binning_for(prof)
        acc = CategoricalAccumulator.empty(b)
        acc.update([f"k{i}" for i in rng.choice(7, 800, p=[0.3, 0.25, 0.2, 0.1, 0.05, 0.05, 0.05])], b)
    counts = np.asarray(prof.counts if ftype == "numeric" else prof.bin_counts(), dtype=np.int64)
    return TestInput(counts, acc.counts, acc, prof)


@pytest.mark.parametrize(("name", "ftype"), CASES)
def test_window_test_contract(name: str, ftype: str) -> None:
    test = get_test(name, ftype)
    data = _input(ftype, 1, shift=2.0)
    before = (data.reference.copy(), data.window.copy(), data.accumulator.to_state().model_dump_json(),
              data.profile.model_dump_json())
    r1 = test.run(data)
    assert (np.array_equal(before[0], data.reference) and np.array_equal(before[1], data.window)
            and before[2] == data.accumulator.to_state().model_dump_json()
            and before[3] == data.profile.model_dump_json())
    assert test.run(_input(ftype, 1, shift=2.0)) == r1  # seeded runs repeat
    assert np.isfinite(r1.value) and (r1.p_value is None or 0.0 <= r1.p_value <= 1.0)
    assert (r1.p_value is None) == (test.kind == "distance")
    assert len(test.doc) > 200 and "Examples" in test.doc
    with pytest.raises(dataclasses.FrozenInstanceError):
        test.default_threshold = 99.0  # type: ignore[misc]
    if test.kind == "distance":
        assert test.batch is not None and test.default_threshold is not None
        many = np.stack([data.window, data.reference // 5])
        assert np.allclose(test.batch(data.reference, many, data.profile)[0], r1.value)
    else:
        assert test.default_effect is not None and r1.effect is not None


STREAM_CASES = sorted(STREAMING)


@pytest.mark.parametrize("kind", STREAM_CASES)
def test_streaming_detector_contract(kind: str) -> None:
    cls = STREAMING[kind]
    assert cls.__doc__ and inspect.getmodule(cls).__doc__ and "Examples" in inspect.getmodule(cls).__doc__  # type: ignore[union-attr]
    rng = np.random.default_rng(3)
    xs = np.concatenate([rng.normal(0, 1, 600), rng.normal(3, 1, 600)])
    kept = xs.copy()
    a, b = build_streaming(kind, {}), build_streaming(kind, {})
    for x in xs[:500]:
        assert a.update(float(x)) is None
        b.update(float(x))
    assert a.to_state() == b.to_state()  # seeded runs repeat
    c = restore_streaming(StreamingState.model_validate_json(a.to_state().model_dump_json()))
    fired_a, fired_c = [], []
    for x in xs[500:]:
        a.update(float(x))
        c.update(float(x))
        fired_a.append(a.drift_detected)
        fired_c.append(c.drift_detected)
        assert a.state == c.state
    assert fired_a == fired_c and any(fired_a) and a.reading() == c.reading()
    assert np.array_equal(xs, kept)
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items() if k != "every"}
    build_streaming(kind, {}).update(1.0)
    assert defaults == {k: p.default for k, p in inspect.signature(cls).parameters.items() if k != "every"}
    assert build_streaming(kind, {}).params() == build_streaming(kind, {}).params()
