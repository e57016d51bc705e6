"""Hypothesis: merging parts equals processing the whole; state encodings round-trip."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from stream_monitor.decisions import PolicyState
from stream_monitor.detectors import DetectorState
from stream_monitor.windows import Binning, CategoricalAccumulator, NumericAccumulator
from stream_monitor.windows.embedding import EmbeddingAccumulator
from stream_monitor.windows.state import CategoricalState, EmbeddingState, NumericState

BIN = Binning(edges=np.array([-1.0, 0.0, 1.0, 2.5]), minimum=-3.0, maximum=3.0)
CATS = Binning(index={"a": 0, "b": 1, "c": 2})
finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, max_size=60), st.integers(0, 60), st.integers(0, 5), st.integers(0, 5))
def test_numeric_merge_equals_whole(values: list[float], cut: int, miss: int, bad: int) -> None:
    x = np.asarray(values, dtype=float)
    cut = min(cut, x.size)
    whole, left, right = (NumericAccumulator.empty(BIN) for _ in range(3))
    whole.update(x, BIN, missing=miss, mismatched=bad)
    left.update(x[:cut], BIN, missing=miss)
    right.update(x[cut:], BIN, mismatched=bad)
    merged = left.merge(right)
    assert np.array_equal(merged.counts, whole.counts)
    assert (merged.missing, merged.mismatched, merged.below, merged.above) == (
        whole.missing, whole.mismatched, whole.below, whole.above)
    assert np.isclose(merged.total, whole.total, rtol=1e-9, atol=1e-6)
    restored = NumericAccumulator.from_state(NumericState.model_validate_json(whole.to_state().model_dump_json()))
    assert restored.to_state() == whole.to_state()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "zz", "q"]), max_size=60), st.integers(0, 60))
def test_categorical_merge_equals_whole(keys: list[str], cut: int) -> None:
    whole, left, right = (CategoricalAccumulator.empty(CATS) for _ in range(3))
    whole.update(keys, CATS, missing=2)
    left.update(keys[:cut], CATS, missing=2)
    right.update(keys[cut:], CATS)
    assert left.merge(right).to_state() == whole.to_state()
    assert CategoricalAccumulator.from_state(
        CategoricalState.model_validate_json(whole.to_state().model_dump_json())).to_state() == whole.to_state()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.floats(-1, 1, allow_nan=False), min_size=4, max_size=4), max_size=40),
       st.integers(0, 40))
def test_embedding_merge_is_exact(rows: list[list[float]], cut: int) -> None:
    z = np.asarray(rows, dtype=float).reshape(-1, 4)
    whole, left, right = (EmbeddingAccumulator.empty(4) for _ in range(3))
    whole.update(z)
    left.update(z[:cut])
    right.update(z[cut:])
    assert left.merge(right).to_state() == whole.to_state()
    assert EmbeddingAccumulator.from_state(
        EmbeddingState.model_validate_json(whole.to_state().model_dump_json())).to_state() == whole.to_state()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 50), st.one_of(st.none(), st.floats(0, 1e10, allow_nan=False)),
       st.sampled_from(list(DetectorState)), st.lists(st.booleans(), max_size=10))
def test_policy_state_encoding_round_trips(streak: int, cooldown: float | None, state: DetectorState,
                                           history: list[bool]) -> None:
    s = PolicyState(streak, cooldown, state, history)
    codec = TypeAdapter(PolicyState)
    assert codec.validate_json(codec.dump_json(s)) == s
