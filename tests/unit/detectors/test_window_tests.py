"""The new window tests: values against scipy / closed forms, null rates and power on seeded data.

Statistical expectations (fixed seeds, deterministic):
* p-value tests at alpha = 0.01 on 200 null windows fire at most 6 times
  (binomial 95% upper bound for 1% of 200 is 5-6).
* the variance test on a lognormal feature with excess kurtosis ~50, where a
  normal-theory F test fires in most windows, fires at most 8 times (it is
  somewhat liberal on heavy tails; see its module docstring).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from stream_monitor.detectors import TestInput, get_test
from stream_monitor.detectors.distances import hellinger, js_distance, unseen_share, wasserstein_binned
from stream_monitor.specs.model import ModelSpec
from stream_monitor.windows import NumericAccumulator, binning_for, build_profile

SEED = 20260301


def _numeric_setup(ref: np.ndarray):  # type: ignore[no-untyped-def]
    spec = ModelSpec.model_validate({"model_id": "m", "features": [{"name": "x"}],
                                     "reference": {"learn_first_n": 100, "sample_rows": 0}})
    prof = build_profile(spec, ({"x": float(v)} for v in ref), source="t").features["x"]
    return prof, binning_for(prof)


def _window(prof, binning, values: np.ndarray) -> TestInput:  # type: ignore[no-untyped-def]
    acc = NumericAccumulator.empty(binning)
    acc.update(values, binning)
    return TestInput(np.asarray(prof.counts), acc.counts, acc, prof)


def test_js_and_hellinger_match_closed_forms() -> None:
    rng = np.random.default_rng(SEED)
    for _ in range(20):
        r, w = rng.integers(0, 100, 8), rng.integers(0, 100, 8)
        assert js_distance(r, w) == pytest.approx(distance.jensenshannon(r / r.sum(), w / w.sum(), base=2), abs=1e-9)
        p, q = r / r.sum(), w / w.sum()
        assert hellinger(r, w) == pytest.approx(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)), abs=1e-9)
    wins = rng.integers(0, 100, (5, 8))
    assert np.allclose(js_distance(r, wins), [js_distance(r, x) for x in wins])


def test_wasserstein_binned_tracks_scipy_in_units_of_sd() -> None:
    rng = np.random.default_rng(SEED + 1)
    ref = rng.normal(10, 2, 20_000)
    prof, binning = _numeric_setup(ref)
    test = get_test("wasserstein", "numeric")
    for shift in (0.0, 0.2, 1.0):
        win = rng.normal(10 + shift * 2, 2, 5_000)
        exact = stats.wasserstein_distance(ref, win) / ref.std()
        binned = test.run(_window(prof, binning, win)).value
        assert binned == pytest.approx(exact, rel=0.06, abs=0.015)
    with pytest.raises(TypeError, match="needs the window accumulator"):
        test.compute(np.asarray(prof.counts), np.asarray(prof.counts))
    edges = np.array([1.0, 2.0, 3.0])
    assert wasserstein_binned(np.array([1, 1, 1, 1]), np.array([0, 0, 0, 4]), edges, 0.0, 4.0, 1.0) == 1.5


@pytest.mark.parametrize("name", ["mean_shift", "variance_shift"])
def test_moment_tests_null_rate_on_heavy_tails(name: str) -> None:
    rng = np.random.default_rng(SEED + 2)
    ref = rng.lognormal(3.5, 0.9, 20_000)
    prof, binning = _numeric_setup(ref)
    assert prof.kurtosis is not None and prof.kurtosis > 20
    test = get_test(name, "numeric")
    fired = sum(test.run(_window(prof, binning, rng.lognormal(3.5, 0.9, 1000))).p_value <= 0.01  # type: ignore[operator]
                for _ in range(200))
    assert fired <= (6 if name == "mean_shift" else 8)
    normal_ref = rng.normal(0, 1, 20_000)
    prof, binning = _numeric_setup(normal_ref)
    fired = sum(test.run(_window(prof, binning, rng.normal(0, 1, 1000))).p_value <= 0.01  # type: ignore[operator]
                for _ in range(200))
    assert fired <= 6


def test_moment_tests_power_and_effects() -> None:
    rng = np.random.default_rng(SEED + 3)
    ref = rng.normal(0, 1, 20_000)
    prof, binning = _numeric_setup(ref)
    mean_t, var_t = get_test("mean_shift", "numeric"), get_test("variance_shift", "numeric")
    shifted = mean_t.run(_window(prof, binning, rng.normal(0.3, 1, 1000)))
    assert shifted.p_value < 1e-6 and shifted.effect == pytest.approx(0.3, abs=0.08)  # type: ignore[operator]
    wider = var_t.run(_window(prof, binning, rng.normal(0, 1.5, 1000)))
    assert wider.p_value < 1e-6 and wider.effect == pytest.approx(np.log(1.5), abs=0.05)  # type: ignore[operator]
    # a pure spread change does not look like a mean shift (Welch-type standard error)
    assert mean_t.run(_window(prof, binning, rng.normal(0, 3, 1000))).p_value > 0.001  # type: ignore[operator]


def test_unseen_share_counts_only_the_excess_over_the_reference_tail() -> None:
    ref = np.array([600, 300, 100])  # 10% pooled rare categories in the reference
    assert unseen_share(ref, np.array([60, 30, 10])) == 0.0
    assert unseen_share(ref, np.array([45, 25, 30])) == pytest.approx(0.2)
    test = get_test("unseen_share", "categorical")
    assert test.kind == "distance" and test.compute(ref, np.array([45, 25, 30])).value == pytest.approx(0.2)


def test_effect_sizes_of_p_value_tests() -> None:
    ks, chi2 = get_test("ks", "numeric"), get_test("chi2", "categorical")
    r = ks.compute(np.full(10, 100), np.r_[np.full(5, 15), np.full(5, 5)])
    assert r.effect == r.value == pytest.approx(0.25)
    c = chi2.compute(np.array([500, 500, 0]), np.array([50, 50, 0]))
    assert c.effect == 0.0 and chi2.default_effect == 0.1
