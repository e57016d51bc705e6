"""The Kolmogorov survival function and Brent's root finder without scipy.stats and
scipy.optimize: the same numbers as SciPy, bit for bit, and a worker that does not import
either."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import optimize, stats

from stream_monitor.detectors.cusum_thresholds import cusum_threshold
from stream_monitor.detectors.kolmogorov import kstwo_sf
from stream_monitor.detectors.roots import brentq

# Sizes on both sides of every branch of Simard and L'Ecuyer's algorithm (n <= 140, the
# Durbin matrix up to n = 100,000, Pelz-Good beyond), distances from the Ruben-Gambino
# corners (n d <= 1, n d >= n - 1) through the exact 2 smirnov region (d >= 0.5).
SIZES = [1, 2, 3, 7, 20, 50, 139, 140, 141, 200, 500, 990, 1000, 4_999, 20_000, 99_999, 100_000, 100_001, 250_000]


@pytest.mark.parametrize("n", SIZES)
def test_kstwo_sf_is_scipys_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    points = 40 if n < 20_000 else 6  # scipy's own call takes up to 0.2 s at these sizes
    grid = np.r_[np.geomspace(1e-4, 0.999, points), rng.uniform(0, 1, points // 2), 0.5 / n, 1.0 / n, 1 - 1.0 / n,
                 np.sqrt(np.array([0.754693, 2.2, 4.0, 18.0, 370.0]) / n)]
    for d in grid[(grid > 0) & (grid < 1)]:
        assert kstwo_sf(float(d), n) == float(stats.kstwo.sf(float(d), n)), (n, d)


def test_brentq_is_scipys_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    compared = 0
    for _ in range(3000):
        c = rng.normal(size=4)
        shift = rng.uniform(-5, 5)

        def f(x: float, c: np.ndarray = c, shift: float = shift) -> float:
            return float(np.tanh(c[0] * (x - shift)) * abs(c[1]) + 0.1 * c[2] * math.sin(x)
                         + 1e-3 * c[3] * (x - shift) ** 3)

        if f(-20.0) * f(20.0) > 0:
            continue
        compared += 1
        for xtol in (1e-9, 2e-12):
            assert brentq(f, -20.0, 20.0, xtol=xtol) == optimize.brentq(f, -20.0, 20.0, xtol=xtol)
    assert compared > 2000
    with pytest.raises(ValueError, match="different signs"):
        brentq(lambda x: x * x + 1.0, -1.0, 1.0)


def test_cusum_thresholds_are_the_ones_scipys_root_finder_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The calibration's root search, with SciPy's brentq swapped in, gives the same thresholds."""
    import stream_monitor.detectors.cusum_thresholds as thresholds

    rng = np.random.default_rng(3)
    cases = []
    for _ in range(40):
        values = np.sort(rng.normal(size=12))
        probs = rng.dirichlet(np.ones(12))
        cases.append((values, probs, float(rng.uniform(0.05, 0.6)), float(rng.uniform(5.0, 20.0)),
                      float(rng.uniform(0.0, 0.05))))
    searches = []

    def counted(f: object, a: float, b: float, xtol: float) -> float:
        searches.append(a)
        return brentq(f, a, b, xtol=xtol)  # type: ignore[arg-type]

    monkeypatch.setattr(thresholds, "brentq", counted)
    ours = [cusum_threshold(v, p, k, log_rate, se) for v, p, k, log_rate, se in cases]
    monkeypatch.setattr(thresholds, "brentq", lambda f, a, b, xtol: float(optimize.brentq(f, a, b, xtol=xtol)))
    theirs = [cusum_threshold(v, p, k, log_rate, se) for v, p, k, log_rate, se in cases]
    assert ours == theirs and len(searches) >= 10


def test_the_worker_imports_neither_scipy_stats_nor_optimize_nor_river() -> None:
    """They cost a worker about 54 MB of resident memory; the default detectors need none."""
    code = ("import sys, stream_monitor.app.worker, stream_monitor.cli, stream_monitor.pipeline.monitor; "
            "print(sorted(m for m in ('scipy.stats', 'scipy.optimize', 'river') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_kstwo_sf_cached_equals_the_distribution_computed_afresh() -> None:
    """A repeated (d, n) is answered from the cache with the number the distribution gives."""
    from stream_monitor.detectors.kolmogorov import _kolmogn

    for n, d in [(952, 0.012), (952, 0.035), (952, 0.05), (500, 0.3), (100, 0.1), (50_000, 0.004)]:
        first, again = kstwo_sf(d, n), kstwo_sf(d, n)
        assert first == again == float(_kolmogn(n, d, cdf=False)) == float(stats.kstwo.sf(d, n))
