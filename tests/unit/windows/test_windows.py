"""Windows: profile binning, mergeable accumulators and boundary maths (integers, no clock)."""

from __future__ import annotations

import numpy as np
import pytest

from stream_monitor.events import PredictionEvent
from stream_monitor.specs.inputs import WindowSpec
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, generate
from stream_monitor.windows import (
    CategoricalAccumulator,
    NumericAccumulator,
    ReferenceProfile,
    Window,
    WindowLayout,
    binning_for,
    next_boundary,
)
from stream_monitor.windows.state import CategoricalState, NumericState


def test_numeric_profile_bins_are_quantiles(demo_reference: ReferenceProfile) -> None:
    amount = demo_reference.features["amount"]
    counts = np.asarray(amount.counts)
    assert counts.sum() == 20_000
    # 50 quantile bins of a continuous feature hold about 400 rows each
    assert len(counts) == 50 and counts.min() > 300 and counts.max() < 500


def test_numeric_accumulator_merge_equals_whole(demo_reference: ReferenceProfile) -> None:
    b = binning_for(demo_reference.features["amount"])
    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(3.5, 0.9, 1000))
    whole, left, right = (NumericAccumulator.empty(b) for _ in range(3))
    whole.update(x, b, missing=3, mismatched=1)
    left.update(x[:400], b, missing=1)
    right.update(x[400:], b, missing=2, mismatched=1)
    merged = left.merge(right)
    assert np.array_equal(merged.counts, whole.counts)
    assert (merged.missing, merged.mismatched, merged.below, merged.above) == (
        whole.missing, whole.mismatched, whole.below, whole.above)
    assert merged.total == pytest.approx(whole.total) and merged.variance() == pytest.approx(whole.variance())
    assert NumericAccumulator.from_state(whole.to_state()).to_state() == whole.to_state()


def test_categorical_accumulator_pools_unseen(demo_reference: ReferenceProfile) -> None:
    b = binning_for(demo_reference.features["country"])
    acc = CategoricalAccumulator.empty(b)
    acc.update(["DE", "DE", "FR", "XX", "YY"], b, missing=2)
    assert acc.n == 5 and acc.unseen == 2 and acc.missing == 2 and acc.observed == 7
    restored = CategoricalAccumulator.from_state(acc.to_state())
    assert np.array_equal(restored.counts, acc.counts) and restored.missing == 2


@pytest.mark.parametrize(
    ("ts", "start", "n", "first", "spec", "expected"),
    [
        ([1, 2, 3], 0, 0, None, WindowSpec(events=10), (3, False)),
        ([1, 2, 3], 0, 8, 0.0, WindowSpec(events=10), (2, True)),
        ([1, 2, 3], 1, 9, 0.0, WindowSpec(events=10), (2, True)),
        ([0, 10, 20, 30], 0, 0, None, WindowSpec(events=None, seconds=25), (3, True)),
        ([30, 40], 0, 5, 0.0, WindowSpec(events=None, seconds=25), (0, True)),
        ([5, 1, 2], 0, 0, None, WindowSpec(events=None, seconds=3), (3, False)),  # late events stay
    ],
)
def test_next_boundary(ts: list[float], start: int, n: int, first: float | None, spec: WindowSpec,
                       expected: tuple[int, bool]) -> None:
    assert next_boundary(ts, [True] * len(ts), start, n, first, spec) == expected


def test_window_merge_and_state_roundtrip(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    layout = WindowLayout.build(demo_spec, demo_reference)
    events = [PredictionEvent.model_validate(e) for e in generate(Scenario(seed=5), 300)]
    whole = Window.empty(0, layout)
    whole.add(events, layout)
    a, b = Window.empty(0, layout), Window.empty(0, layout)
    a.add(events[:120], layout)
    b.add(events[120:], layout)
    merged = a.merge(b)
    assert _exact(merged.to_state().model_dump()) == _exact(whole.to_state().model_dump())
    assert Window.from_state(whole.to_state(), layout).to_state() == whole.to_state()
    assert whole.n == 300 and whole.start_ts == events[0].timestamp and whole.end_ts == events[-1].timestamp


def _exact(state: dict) -> dict:
    """The state with float sums rounded: merging adds them in another order."""
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out[k] = _exact(v)
        elif isinstance(v, float):
            out[k] = round(v, 6)
        else:
            out[k] = v
    return out


def test_a_window_state_restores_only_onto_its_layout(demo_spec: ModelSpec, demo_reference: ReferenceProfile) -> None:
    layout = WindowLayout.build(demo_spec, demo_reference)
    window = Window.empty(0, layout)
    window.add([PredictionEvent.model_validate(e) for e in generate(Scenario(seed=6), 50)], layout)
    state = window.to_state()
    num = next(k for k, v in state.features.items() if isinstance(v, NumericState))
    cat = next(k for k, v in state.features.items() if isinstance(v, CategoricalState))
    swapped = state.model_copy(update={"features": {**state.features, num: state.features[cat]}})
    with pytest.raises(TypeError):
        Window.from_state(swapped, layout)
    missing = state.model_copy(update={"features": {k: v for k, v in state.features.items() if k != num}})
    with pytest.raises(KeyError):
        Window.from_state(missing, layout)
