"""The explicit registry of window tests: config names -> :class:`WindowTest`.

Built here, by hand, not by import side effects. Add a test by writing its
module and one entry below.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import numpy as np

from stream_monitor.detectors.base import StatResult, WindowTest
from stream_monitor.detectors.chi2 import chi2_homogeneity
from stream_monitor.detectors.ks import ks_binned
from stream_monitor.detectors.psi import coarsen, psi

__all__ = ["WINDOW_TESTS", "get_test"]


def _ks(ref: np.ndarray, win: np.ndarray) -> StatResult:
    d, p = ks_binned(ref, win)
    return StatResult(d, p)


def _chi2(ref: np.ndarray, win: np.ndarray) -> StatResult:
    stat, p = chi2_homogeneity(ref, win)
    return StatResult(stat, p)


def _psi_numeric(bins: int) -> WindowTest:
    def compute(ref: np.ndarray, win: np.ndarray) -> StatResult:
        return StatResult(psi(*coarsen(ref, win, bins)))

    return WindowTest("psi", "distance", frozenset({"numeric"}), compute, _PSI_DOC, 0.2, "psi")


_PSI_DOC = psi.__doc__ or ""
_PSI_CATEGORICAL = WindowTest(
    "psi", "distance", frozenset({"categorical"}), lambda r, w: StatResult(psi(r, w)), _PSI_DOC, 0.2, "psi"
)

WINDOW_TESTS: Final = MappingProxyType(
    {
        "ks": WindowTest("ks", "pvalue", frozenset({"numeric"}), _ks, ks_binned.__doc__ or "", None, "ks_d"),
        "chi2": WindowTest(
            "chi2", "pvalue", frozenset({"categorical"}), _chi2, chi2_homogeneity.__doc__ or "", None, "chi2"
        ),
        "psi": _psi_numeric(10),
    }
)


def get_test(name: str, feature_type: str, *, psi_bins: int = 10) -> WindowTest:
    """Look up a window test by config name for a feature type.

    Raises ``KeyError`` for an unknown name and ``ValueError`` when the test does
    not apply to ``feature_type`` (``numeric`` or ``categorical``).
    """
    if name == "psi":
        return _psi_numeric(psi_bins) if feature_type == "numeric" else _PSI_CATEGORICAL
    test = WINDOW_TESTS[name]
    if feature_type not in test.applies_to:
        raise ValueError(f"test {name!r} does not apply to {feature_type} features")
    return test
