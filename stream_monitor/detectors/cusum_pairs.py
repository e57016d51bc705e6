"""The CUSUM layout's signals of two numeric features: correlation and residual.

Both are functions of the two features' normal scores (see *Signals* in
:mod:`stream_monitor.detectors.cusum_signals`): their centred and scaled
product (``correlation``) and the residual ``z_a - beta z_b`` of one score
given the other (``mean given b``). :func:`_pairs` and :func:`_residuals` pick
the pairs and simulate each signal's reference distribution through a Gaussian
copula; :class:`_Pair` and :class:`_Residual` compute the signal per event.

The reference as an estimate
    Only the copula of the correlation signals is an assumption; they come from
    the reference sample (1,000 rows by default), so their ``k`` is at least
    seven standard errors of it, and
    pairs are never picked by their largest sample correlations (that would
    pick the estimates that are most wrong).
    The residuals' mean is 0 exactly (both scores are centred on the bins);
    their variance ``1 - 2 beta rho + beta^2`` depends on the true ``rho``,
    known from the profile's correlation matrix (20,000 rows) only up to a
    standard error ``(1 - rho^2) / sqrt(rows)``. ``beta`` is the correlation
    shrunk by four standard errors towards 0, the worst case for the variance,
    and the residual is scaled for that worst case, so a true ``rho`` anywhere
    within four standard errors leaves the residual's variance at or below 1.
    Only pairs with ``|beta| >= 0.3`` get residuals (below, the gain is under
    5% and the streams would only raise ``M``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from stream_monitor.detectors.cusum_inputs import _Numeric
from stream_monitor.detectors.cusum_streams import BIAS_SE
from stream_monitor.windows.profile import MULTIVARIATE

__all__ = ["PAIR_K_SE", "RESIDUAL_MIN_BETA", "_Pair", "_Residual", "_pairs", "_residuals"]

PAIR_K_SE = 7.0  # correlation pairs (from the small sample) use k of at least this many standard errors
RESIDUAL_MIN_BETA = 0.3  # residual signals only for pairs this correlated (after shrinking)


@dataclass(frozen=True, slots=True)
class _Pair:
    a: int  # indices into CusumLayout.inputs (numeric inputs)
    b: int
    centre: float
    scale: float
    cols: np.ndarray
    direction: np.ndarray
    k: np.ndarray

    def signal(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """The standardised product of the two scores."""
        product: np.ndarray = (za * zb - self.centre) / self.scale
        return product


@dataclass(frozen=True, slots=True)
class _Residual:
    a: int  # indices into CusumLayout.inputs (numeric inputs): the signal is z_a - beta z_b
    b: int
    beta: float
    scale: float
    cols: np.ndarray  # this residual's streams and their increments per unit of the residual
    direction: np.ndarray
    k: np.ndarray

    def signal(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """The standardised residual of the first score given the second."""
        residual: np.ndarray = (za - self.beta * zb) / self.scale
        return residual


def _bin_scores(nums: Sequence[_Numeric], probs: Sequence[np.ndarray]) -> Any:
    """``f(u, i)``: the standardised score of numeric input ``i``'s bin at reference quantile ``u``."""
    cums = [np.concatenate([[0.0], np.cumsum(p)]) for p in probs]

    def bin_scores(u: np.ndarray, i: int) -> np.ndarray:
        b = np.clip(np.searchsorted(cums[i], u, side="right") - 1, 0, len(probs[i]) - 1)
        return nums[i].z[b]

    return bin_scores


@functools.lru_cache(maxsize=4)
def _uniform(draws: int) -> np.ndarray:
    """Equal weights of ``draws`` simulated values: one read-only array that every simulated
    signal shares (a copy each, 0.8 MB at 100,000 draws, made most of a model's peak memory
    at its start)."""
    weights = np.full(draws, 1.0 / draws)
    weights.flags.writeable = False
    return weights


def _pairs(
    nums: Sequence[_Numeric],
    probs: Sequence[np.ndarray],
    sample: tuple[Sequence[str], Sequence[Sequence[float]]],
    max_pairs: int,
    seed: int,
    draws: int,
) -> tuple[list[tuple[int, int, float, float]], list[tuple[str, str, np.ndarray, np.ndarray, float, int]]]:
    names, rows = sample
    x = np.asarray(rows, dtype=float)
    where = {t.name: i for i, t in enumerate(nums)}
    cols = [(j, where[f]) for j, f in enumerate(names) if f in where]
    if len(cols) < 2:
        return [], []
    bin_scores = _bin_scores(nums, probs)

    scores = {i: bin_scores(special.ndtr(x[:, j]), i) for j, i in cols}
    rho = {}
    for a in range(len(cols)):
        for b in range(a + 1, len(cols)):
            ia, ib = cols[a][1], cols[b][1]
            sa, sb = scores[ia], scores[ib]
            r = float(np.corrcoef(sa, sb)[0, 1]) if sa.std() > 0 and sb.std() > 0 else 0.0
            rho[(ia, ib)] = 0.0 if math.isnan(r) else r
    # Pairs clearly correlated in the sample first (strongest first), then the others in
    # configuration order. Never "the largest sample correlations" among independent pairs:
    # picking by a noisy estimate selects the estimates that are most wrong.
    k_floor = PAIR_K_SE / math.sqrt(len(x))
    strong = sorted((p for p in rho if abs(rho[p]) >= 4.0 / math.sqrt(len(x))), key=lambda p: (-abs(rho[p]), p))
    chosen = (strong + [p for p in rho if p not in strong])[:max_pairs]
    rng = np.random.default_rng([seed, 0x435553])
    pairs, signals = [], []
    for ia, ib in sorted(chosen):
        r = max(min(rho[(ia, ib)], 0.999), -0.999)
        g1 = rng.standard_normal(draws)
        g2 = r * g1 + math.sqrt(1 - r * r) * rng.standard_normal(draws)
        prod = bin_scores(special.ndtr(g1), ia) * bin_scores(special.ndtr(g2), ib)
        centre, scale = float(prod.mean()), float(prod.std())
        if scale <= 0:
            continue
        pairs.append((ia, ib, centre, scale))
        signals.append((MULTIVARIATE, f"correlation {nums[ia].name},{nums[ib].name}",
                        (prod - centre) / scale, _uniform(draws), k_floor, len(x)))
    return pairs, signals


def _residuals(
    nums: Sequence[_Numeric],
    probs: Sequence[np.ndarray],
    n_ref: Sequence[int],
    correlation: tuple[Sequence[str], Sequence[Sequence[float]], int],
    max_pairs: int,
    seed: int,
    draws: int,
) -> tuple[list[tuple[int, int, float, float]], list[tuple[str, str, np.ndarray, np.ndarray, float, int, str]]]:
    """Residual signals ``z_a - beta z_b`` for the most correlated pairs (both ways round).

    The scale and the distribution for the threshold come from a Gaussian
    copula at ``beta`` (the correlation shrunk by ``BIAS_SE`` standard errors)
    through the bins of both features, so the binning's own effect on the
    variance is in them. Residuals run at the smallest ``k`` only: they are
    there for small, slow shifts (a large shift shows in the marginals at once),
    and a large ``k`` on a residual would also fire when the correlation
    changes, which the correlation signals already watch (and would blame a
    feature for it).
    """
    names, matrix, n_rows = correlation
    c = np.asarray(matrix, dtype=float)
    where = {t.name: i for i, t in enumerate(nums)}
    cols = [(j, where[f]) for j, f in enumerate(names) if f in where]
    if len(cols) < 2 or n_rows < 20 or c.shape != (len(names), len(names)):
        return [], []
    bin_scores = _bin_scores(nums, probs)

    shrunk = {}
    for x in range(len(cols)):
        for y in range(x + 1, len(cols)):
            r = float(c[cols[x][0], cols[y][0]])
            if not math.isfinite(r):
                continue
            r = max(min(r, 0.999), -0.999)
            beta = math.copysign(max(abs(r) - BIAS_SE * (1 - r * r) / math.sqrt(n_rows), 0.0), r)
            if abs(beta) >= RESIDUAL_MIN_BETA:
                shrunk[(cols[x][1], cols[y][1])] = beta
    chosen = sorted(shrunk, key=lambda p: (-abs(shrunk[p]), p))[:max_pairs]
    rng = np.random.default_rng([seed, 0x524553])
    specs, signals = [], []
    for ia, ib in sorted(chosen):
        beta = shrunk[(ia, ib)]
        g1 = rng.standard_normal(draws)
        g2 = beta * g1 + math.sqrt(1 - beta * beta) * rng.standard_normal(draws)
        sa, sb = bin_scores(special.ndtr(g1), ia), bin_scores(special.ndtr(g2), ib)
        rows = min(n_ref[ia], n_ref[ib])  # the residual's mean is off by scale / sqrt(rows): 1 / sqrt(rows) scaled
        for (p, q, zp, zq) in ((ia, ib, sa, sb), (ib, ia, sb, sa)):
            resid = zp - beta * zq
            scale = float(resid.std())
            if scale <= 0:
                continue
            specs.append((p, q, beta, scale))
            signals.append((nums[p].name, f"mean given {nums[q].name}", resid / scale,
                            _uniform(draws), 0.0, rows, nums[q].name))
    return specs, signals
