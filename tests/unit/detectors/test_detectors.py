"""Window tests on binned counts, checked against scipy and on seeded streams.

Statistical expectations (fixed seeds, so these runs are deterministic):
* null: 200 windows of 1000 draws from the reference distribution; each test at
  alpha = 0.01 should fire in about 1% of windows (binomial 95% range 0-6 of 200);
  we allow at most 6.
* power: a 0.3-sigma mean shift in windows of 1000 is detected by KS in every
  one of 20 windows (its power there is > 0.999).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from stream_monitor.detectors import WINDOW_TESTS, StatResult, get_test
from stream_monitor.detectors.distances import PSI_EPSILON, coarse_starts, coarsen, psi
from stream_monitor.detectors.prepared import prepare
from stream_monitor.detectors.two_sample import chi2_homogeneity, ks_binned
from stream_monitor.specs.detection import WINDOW_TEST_TYPES

RNG_SEED = 20260101


def _binned(ref: np.ndarray, win: np.ndarray, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    f = lambda x: np.bincount(np.searchsorted(edges, x, side="right"), minlength=edges.size + 1)  # noqa: E731
    return f(ref), f(win)


def test_ks_binned_matches_scipy_within_bin_resolution() -> None:
    rng = np.random.default_rng(RNG_SEED)
    ref = rng.normal(0, 1, 20_000)
    for shift in (0.0, 0.1, 0.3):
        win = rng.normal(shift, 1, 2_000)
        d_exact = stats.ks_2samp(ref, win).statistic
        d_binned, p = ks_binned(*_binned(ref, win))
        assert d_binned <= d_exact + 1e-12  # binning can only hide part of the gap
        assert d_exact - d_binned < 0.03  # ... and at most about one bin's mass
        assert 0.0 <= p <= 1.0


def test_psi_known_values_and_symmetry_of_zero() -> None:
    ref = np.array([250, 250, 250, 250])
    assert psi(ref, ref) == 0.0
    assert psi(ref, np.array([100, 200, 300, 400])) == pytest.approx(0.2282, abs=1e-3)
    r, w = coarsen(np.full(50, 100), np.arange(50), 10)
    assert r.size == 10 and r.sum() == 5000 and w.sum() == np.arange(50).sum()


def _psi_afresh(reference: np.ndarray, window: np.ndarray, epsilon: float = 1e-4) -> np.ndarray:
    p = np.maximum(reference / max(reference.sum(), 1), epsilon)
    q = np.maximum(window / np.maximum(np.sum(window, axis=-1, keepdims=True), 1), epsilon)
    out: np.ndarray = np.sum((q - p) * np.log(q / p), axis=-1)
    return out


def test_psi_and_coarsen_from_a_prepared_reference_equal_them_computed_from_the_counts() -> None:
    """The pooled groups and floored shares a prepared reference keeps are the numbers computed
    from the raw counts, and the distance tests answer the same from either."""
    rng = np.random.default_rng(5)
    for _ in range(3):
        ref = rng.integers(0, 500, 50)
        wins = rng.integers(0, 40, (4, 50))
        prepared = prepare(ref)
        for _ in range(2):  # the second round reads what the first derived
            groups = prepared.pooled(10)
            assert groups is not None
            starts, pooled = groups
            r, w = coarsen(ref, wins, 10)
            assert np.array_equal(starts, coarse_starts(ref, 10)) and 1 < starts.size <= 10
            assert np.array_equal(pooled.counts, r) and np.array_equal(r, np.add.reduceat(ref, starts))
            assert np.array_equal(w, np.add.reduceat(wins, starts, axis=-1))
            assert np.array_equal(pooled.floored_shares(PSI_EPSILON), np.maximum(r / r.sum(), PSI_EPSILON))
            assert np.array_equal(psi(r, w), _psi_afresh(r, w))
            assert psi(r, w[0]) == float(_psi_afresh(r, w[0]))
            assert get_test("psi", "numeric").compute(prepared, wins[0]).value == float(_psi_afresh(r, w[0]))
            for name, ftype in (("psi", "numeric"), ("jensen_shannon", "numeric"), ("hellinger", "numeric"),
                                ("psi", "categorical"), ("unseen_share", "categorical")):
                test = get_test(name, ftype)
                assert test.batch is not None
                assert np.array_equal(test.batch(prepared, wins, None), test.batch(ref, wins, None))
                assert test.compute(prepared, wins[0]) == test.compute(ref, wins[0])
        assert prepared.pooled(10) is prepared.pooled(10)  # derived once, then kept
        assert prepared.floored_shares(PSI_EPSILON) is prepared.floored_shares(PSI_EPSILON)


def test_chi2_matches_scipy_contingency() -> None:
    ref, win = np.array([500, 300, 200, 0]), np.array([40, 35, 25, 3])
    stat, p = chi2_homogeneity(ref, win)
    expected = stats.chi2_contingency(np.array([[500, 300, 200, 0], [40, 35, 25, 3]])[:, :4], correction=False)
    assert stat == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)


def test_chi2_and_ks_p_values_equal_scipy_bit_for_bit() -> None:
    """Both skip scipy's distribution and argument machinery; the numbers must not move."""
    rng = np.random.default_rng(RNG_SEED + 7)
    for _ in range(300):
        k = int(rng.integers(2, 30))
        ref = rng.integers(0, 5_000, size=k) * (rng.random(k) > 0.1)
        win = rng.multinomial(int(rng.integers(1, 3_000)), rng.dirichlet(np.ones(k)))
        keep = (ref + win) > 0
        if keep.sum() < 2 or ref.sum() == 0:
            continue
        expected = stats.chi2_contingency(np.vstack([ref[keep], win[keep]]).astype(float), correction=False)
        assert chi2_homogeneity(ref, win) == (float(expected.statistic), float(expected.pvalue))
        d, p = ks_binned(ref, win)
        m, n = int(ref.sum()), int(win.sum())
        assert p == float(stats.kstwo.sf(d, max(round(m * n / (m + n)), 1)))


@pytest.mark.parametrize("name", ["ks", "psi"])
def test_numeric_tests_false_alarm_rate_on_null(name: str) -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    ref = rng.lognormal(3.5, 0.9, 20_000)
    test = get_test(name, "numeric")
    fired = 0
    for _ in range(200):
        r, w = _binned(ref, rng.lognormal(3.5, 0.9, 1_000))
        res = test.compute(r, w)
        fired += (res.p_value <= 0.01) if res.p_value is not None else (res.value > 0.2)
    assert fired <= 6


def test_ks_power_on_small_shift() -> None:
    rng = np.random.default_rng(RNG_SEED + 2)
    ref = rng.normal(0, 1, 20_000)
    test = get_test("ks", "numeric")
    hits = sum(test.compute(*_binned(ref, rng.normal(0.3, 1, 1_000))).p_value <= 0.01 for _ in range(20))
    assert hits == 20


def test_categorical_tests_on_null_and_shift() -> None:
    rng = np.random.default_rng(RNG_SEED + 3)
    p_ref = np.array([0.3, 0.2, 0.15, 0.15, 0.12, 0.08])
    ref = np.append(rng.multinomial(20_000, p_ref), 0)
    chi2 = get_test("chi2", "categorical")
    null_fires = sum(chi2.compute(ref, np.append(rng.multinomial(1000, p_ref), 0)).p_value <= 0.01 for _ in range(200))
    assert null_fires <= 6
    shifted = np.append(rng.multinomial(1000, [0.05, 0.05, 0.1, 0.1, 0.1, 0.6]), 0)
    assert chi2.compute(ref, shifted).p_value < 1e-10
    assert get_test("psi", "categorical").compute(ref, shifted).value > 0.2


def test_registry_rejects_misuse() -> None:
    with pytest.raises(KeyError):
        get_test("nope", "numeric")
    with pytest.raises(ValueError, match="does not apply"):
        get_test("chi2", "numeric")


def test_the_specs_name_exactly_the_registered_window_tests() -> None:
    # The specs validate test names without importing the detectors (a lower layer): their
    # catalogue and the registry must name the same tests for the same feature types.
    assert set(WINDOW_TEST_TYPES) == set(WINDOW_TESTS)
    for name, types in WINDOW_TEST_TYPES.items():
        for ftype in ("numeric", "categorical"):
            if ftype in types:
                assert get_test(name, ftype).name == name
            else:
                with pytest.raises(ValueError, match="does not apply"):
                    get_test(name, ftype)


def test_ks_from_a_prepared_reference_equals_it_computed_from_the_counts() -> None:
    """The reference CDF a prepared reference keeps gives the D and p-value computed from the raw counts."""
    rng = np.random.default_rng(9)
    ks = get_test("ks", "numeric")
    for _ in range(4):
        ref = rng.integers(0, 800, 50)
        prepared = prepare(ref)
        for _ in range(3):  # later rounds read the CDF the first derived
            win = rng.integers(0, 40, 50)
            m, n = int(ref.sum()), int(win.sum())
            assert prepared.cdf()[0] == m and np.array_equal(prepared.cdf()[1], np.cumsum(ref) / m)
            d = float(np.abs(np.cumsum(ref) / m - np.cumsum(win) / n).max())
            p = float(stats.kstwo.sf(d, max(int(round(m * n / (m + n))), 1)))
            assert ks_binned(ref, win) == (d, p)
            assert ks.compute(prepared, win) == ks.compute(ref, win) == StatResult(d, p, effect=d)
    empty = np.zeros(5, dtype=np.int64)
    assert ks_binned(empty, np.ones(5, dtype=np.int64)) == (0.0, 1.0)
    assert ks.compute(prepare(empty), np.ones(5, dtype=np.int64)) == StatResult(0.0, 1.0, effect=0.0)
