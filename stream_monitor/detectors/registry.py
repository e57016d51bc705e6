"""The explicit registry of window tests: config names -> :class:`WindowTest`.

Built here, by hand, not by import side effects. Add a test by writing its
statistic (a distance in :mod:`~stream_monitor.detectors.distances`, a test with a
p-value in :mod:`~stream_monitor.detectors.two_sample`) and one entry below. A
test's ``doc`` is the docstring of the module that computes it.

Each test takes its reference as raw counts or prepared
(:class:`~stream_monitor.detectors.prepared.PreparedReference`): from a prepared
reference it reads the pooled groups, PSI's floored shares and the KS CDF
computed once, from raw counts it computes them for the call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from stream_monitor.detectors import distances, two_sample
from stream_monitor.detectors.base import StatResult, TestInput, WindowTest
from stream_monitor.detectors.distances import (
    PSI_EPSILON,
    hellinger,
    js_distance,
    psi_against,
    unseen_share,
    wasserstein_binned,
)
from stream_monitor.detectors.prepared import PreparedReference, Reference, counts_of, prepare
from stream_monitor.detectors.two_sample import (
    chi2_homogeneity,
    cohens_w,
    ks_against,
    mean_shift_test,
    variance_shift_test,
)

__all__ = ["BOTH", "COARSENED", "WINDOW_TESTS", "get_test"]

BOTH = frozenset({"numeric", "categorical"})
NUMERIC = frozenset({"numeric"})
CATEGORICAL = frozenset({"categorical"})
# Distance tests that pool numeric bins into ``psi_bins`` groups first: on 50
# sparse bins their null value is dominated by noise, on ~10 it is not.
COARSENED = frozenset({"psi", "jensen_shannon", "hellinger"})

# A distance of a prepared reference and window counts (vectorised over leading axes of the window).
Distance = Callable[[PreparedReference, np.ndarray], Any]


def _doc(module: object) -> str:
    return getattr(module, "__doc__", None) or ""


_DISTANCE_DOC = _doc(distances)
_TWO_SAMPLE_DOC = _doc(two_sample)


def _ks(ref: Reference, win: np.ndarray) -> StatResult:
    m, cdf = prepare(ref).cdf()
    d, p = ks_against(m, cdf, win)
    return StatResult(d, p, effect=d)


def _chi2(ref: Reference, win: np.ndarray) -> StatResult:
    counts = counts_of(ref)
    stat, p = chi2_homogeneity(counts, win)
    return StatResult(stat, p, effect=cohens_w(counts, win))


def _psi(ref: PreparedReference, win: np.ndarray) -> Any:
    return psi_against(ref.floored_shares(PSI_EPSILON), win, PSI_EPSILON)


def _on_counts(fn: Callable[[np.ndarray, np.ndarray], Any]) -> Distance:
    """A distance of two count vectors as a distance of a prepared reference and a window."""

    def distance(ref: PreparedReference, win: np.ndarray) -> Any:
        return fn(ref.counts, win)

    return distance


def _needs_more(name: str) -> Callable[[Reference, np.ndarray], StatResult]:
    def compute(ref: Reference, win: np.ndarray) -> StatResult:
        raise TypeError(f"test {name!r} needs the window accumulator and profile: call WindowTest.run")

    return compute


def _distance(name: str, fn: Distance, doc: str, default: float, applies: frozenset[str],
              bins: int | None = None) -> WindowTest:
    """A counts-only distance test; numeric bins are first pooled into ``bins`` groups."""

    def batch(ref: Reference, wins: np.ndarray, _profile: Any = None) -> np.ndarray:
        r = prepare(ref)
        groups = r.pooled(bins) if bins else None
        if groups is not None:
            starts, r = groups
            wins = np.add.reduceat(wins, starts, axis=-1)
        return np.asarray(fn(r, wins), dtype=float)

    def compute(ref: Reference, win: np.ndarray) -> StatResult:
        return StatResult(float(batch(ref, win)))

    return WindowTest(name, "distance", applies, compute, doc, default, name, batch=batch)


def _wasserstein_batch(ref: Reference, wins: np.ndarray, profile: Any) -> np.ndarray:
    edges = np.asarray(profile.edges, dtype=float)
    return np.asarray(
        wasserstein_binned(counts_of(ref), wins, edges, profile.minimum, profile.maximum, profile.std), dtype=float
    )


def _wasserstein(data: TestInput) -> StatResult:
    return StatResult(float(_wasserstein_batch(data.reference, data.window, data.profile)))


def _mean_shift(data: TestInput) -> StatResult:
    acc, prof = data.accumulator, data.profile
    z, p, d = mean_shift_test(acc.mean(), acc.variance(), acc.n, prof.mean, prof.std, prof.n)
    return StatResult(z, p, effect=d)


def _variance_shift(data: TestInput) -> StatResult:
    acc, prof = data.accumulator, data.profile
    z, p, e = variance_shift_test(acc.variance(), acc.n, prof.std, prof.n, prof.kurtosis)
    return StatResult(z, p, effect=e)


@lru_cache(maxsize=64)
def _numeric_coarsened(name: str, bins: int) -> WindowTest:
    fn, doc, default = _COARSE_FN[name]
    return _distance(name, fn, doc, default, BOTH, bins)


_COARSE_FN: dict[str, tuple[Distance, str, float]] = {
    "psi": (_psi, _DISTANCE_DOC, 0.2),
    "jensen_shannon": (_on_counts(js_distance), _DISTANCE_DOC, 0.1),
    "hellinger": (_on_counts(hellinger), _DISTANCE_DOC, 0.1),
}
_CATEGORICAL_VERSION = {name: _distance(name, fn, doc, d, BOTH) for name, (fn, doc, d) in _COARSE_FN.items()}

WINDOW_TESTS: Final = MappingProxyType(
    {
        "ks": WindowTest("ks", "pvalue", NUMERIC, _ks, _TWO_SAMPLE_DOC, None, "ks_d", default_effect=0.05),
        "chi2": WindowTest("chi2", "pvalue", CATEGORICAL, _chi2, _TWO_SAMPLE_DOC, None, "chi2", default_effect=0.1),
        "psi": _numeric_coarsened("psi", 10),
        "jensen_shannon": _numeric_coarsened("jensen_shannon", 10),
        "hellinger": _numeric_coarsened("hellinger", 10),
        "wasserstein": WindowTest("wasserstein", "distance", NUMERIC, _needs_more("wasserstein"), _DISTANCE_DOC,
                                  0.1, "wasserstein", compute_full=_wasserstein, batch=_wasserstein_batch),
        "mean_shift": WindowTest("mean_shift", "pvalue", NUMERIC, _needs_more("mean_shift"), _TWO_SAMPLE_DOC,
                                 None, "mean_z", compute_full=_mean_shift, default_effect=0.1),
        "variance_shift": WindowTest("variance_shift", "pvalue", NUMERIC, _needs_more("variance_shift"),
                                     _TWO_SAMPLE_DOC, None, "log_variance_z", compute_full=_variance_shift,
                                     default_effect=0.1),
        "unseen_share": _distance("unseen_share", _on_counts(unseen_share), _DISTANCE_DOC, 0.02, CATEGORICAL),
    }
)


def get_test(name: str, feature_type: str, *, psi_bins: int = 10) -> WindowTest:
    """Look up a window test by config name for a feature type.

    ``psi``, ``jensen_shannon`` and ``hellinger`` pool numeric bins into
    ``psi_bins`` groups first; on categories they use the categories as they are.

    Raises ``KeyError`` for an unknown name and ``ValueError`` when the test does
    not apply to ``feature_type`` (``numeric`` or ``categorical``).
    """
    if name in COARSENED:
        return _numeric_coarsened(name, psi_bins) if feature_type == "numeric" else _CATEGORICAL_VERSION[name]
    test = WINDOW_TESTS[name]
    if feature_type not in test.applies_to:
        raise ValueError(f"test {name!r} does not apply to {feature_type} features")
    return test
