"""The CUSUM bank's counting pass (the model already drifts) against the per-stream loop
it replaced: alarm counts, sums and window counts identical, on seeded streams and on
the increments of a real layout, however the stream is cut."""

from __future__ import annotations

import numpy as np
import pytest

from stream_monitor.detectors.cusum import _BLOCK, SCALE, CusumBank, head_starts
from stream_monitor.detectors.cusum_signals import CusumLayout
from stream_monitor.windows.profile import CategoricalProfile, NumericProfile


def _previous_scan(bank: CusumBank, increments: np.ndarray) -> None:
    """``CusumBank.scan(..., stop_on_alarm=False)`` as it was: the closed form per block,
    then each alarmed stream's recursion one event at a time in Python (the oracle)."""
    h = bank.thresholds
    n = increments.shape[0]
    start = 0
    while start < n:
        block = increments[start:start + _BLOCK]
        c = np.cumsum(block, axis=0)
        floor = np.minimum(np.minimum.accumulate(c, axis=0), -bank.sums)
        s = c - floor
        hit = s >= h
        sums = s[-1].copy()
        for j in np.flatnonzero(hit.any(axis=0)).tolist():
            first = int(np.argmax(hit[:, j]))
            head, limit = int(bank.heads[j]), int(h[j])
            total, count = head, 1
            for y in block[first + 1:, j].tolist():
                total = total + y if total + y > 0 else 0
                if total >= limit:
                    count += 1
                    total = head
            sums[j] = total
            bank.alarms[j] += count
            bank.window_alarms[j] += count
        bank.sums = sums
        start += block.shape[0]


def _pair(h: np.ndarray, heads: np.ndarray, sums: np.ndarray) -> tuple[CusumBank, CusumBank]:
    def one() -> CusumBank:
        return CusumBank(sums.copy(), np.zeros(len(h), np.int64), np.zeros(len(h), np.int64), h, heads)
    return one(), one()


def _same(a: CusumBank, b: CusumBank) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("sums", "alarms", "window_alarms"))


@pytest.mark.parametrize("seed", range(12))
def test_counting_is_identical_to_the_per_stream_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 1500)), int(rng.integers(1, 60))
    drift = rng.normal(0.0, 1.0, size=m)  # some streams drift up strongly, some never alarm
    inc = (rng.normal(drift, 1.5, size=(n, m)) * SCALE).astype(np.int64)
    h = rng.integers(1, 30 * SCALE, size=m).astype(np.int64)
    heads = head_starts(h, float(rng.choice([0.0, 0.5, 0.748, 0.9])), rng.random(m) < 0.2)
    old, new = _pair(h, heads, rng.integers(0, h).astype(np.int64))  # a state mid-stream
    cuts = np.sort(rng.integers(0, n, size=int(rng.integers(0, 6))))
    for part in np.split(inc, cuts):
        _previous_scan(old, part)
        new.scan(part, stop_on_alarm=False)
        assert _same(old, new)
    assert old.alarms.sum() > 0 or n < 50


def test_counting_is_identical_on_a_real_layout_under_a_shift() -> None:
    """Increments of a layout with numeric, categorical and correlation streams, on a
    strong shift (every stream alarms many times per block), across several windows."""
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(20_000, 3))
    numeric = {}
    for j, name in enumerate(("a", "b", "c")):
        x = np.sort(ref[:, j])
        edges = tuple(float(e) for e in np.quantile(x, np.linspace(0, 1, 41)[1:-1]))
        numeric[name] = NumericProfile(edges=edges, counts=(500,) * 40, minimum=float(x[0]),
                                       maximum=float(x[-1]), mean=0.0, std=1.0)
    cat = {"k": CategoricalProfile(categories=("u", "v", "w"), counts=(10_000, 6_000, 4_000))}
    layout = CusumLayout.build(numeric, cat, None, (("a", "b", "c"), ref[:2000].tolist()),
                               ks=(0.25, 1.0), rate_per_event=1e-5, seed=3, max_pairs=3, variance=True)
    old, new = CusumBank.empty(layout), CusumBank.empty(layout)
    for shift in (0.0, 3.0, 3.0, 1.0):
        n = 1000
        cols = {name: rng.normal(shift, 1.0, size=n).tolist() for name in numeric}
        cols["k"] = rng.choice(["u", "v", "w", "x"], size=n, p=[0.2, 0.2, 0.2, 0.4]).tolist()
        inc = layout.increments(cols, None, n)
        old.open_window()
        new.open_window()
        _previous_scan(old, inc)
        new.scan(inc, stop_on_alarm=False)
        assert _same(old, new)
    assert (new.alarms > 5).sum() > len(layout.streams) // 3  # the shift made most streams count
