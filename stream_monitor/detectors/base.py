"""Shared shapes of detectors: window tests on binned counts, streaming detectors
on per-event signals, and the frozen results they produce.

Window tests are pure functions of two count vectors on the same bins (the
reference's and the window's). They report a statistic and, for hypothesis
tests, a p-value; *deciding* (thresholds, multiple-testing correction, minimum
sample size) happens once, in :mod:`stream_monitor.decisions.policy`.

Streaming detectors follow river's shape: ``update(value)`` returns ``None``;
read ``state`` and ``reading()`` afterwards.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from stream_monitor.detectors.prepared import Reference

__all__ = [
    "BatchStatistic",
    "DetectorState",
    "StatResult",
    "StreamReading",
    "TestInput",
    "TestKind",
    "WindowTest",
]

TestKind = Literal["pvalue", "distance"]


class DetectorState(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    DRIFT = "drift"


@dataclass(frozen=True, slots=True)
class StatResult:
    """The outcome of one window test before any decision."""

    value: float
    p_value: float | None = None
    effect: float | None = None  # an effect size for p-value tests (see ``WindowTest.default_effect``)


@dataclass(frozen=True, slots=True)
class TestInput:
    """Everything a window test may look at.

    ``reference`` and ``window`` are count vectors on the same bins; ``reference``
    may come prepared (:class:`~stream_monitor.detectors.prepared.PreparedReference`),
    with what the tests derive from it computed once for many windows. Tests that
    need more than counts (moments, bin edges) also read ``accumulator`` (the
    window's :class:`~stream_monitor.windows.accumulators.NumericAccumulator` or
    ``CategoricalAccumulator``) and ``profile`` (the reference feature profile).
    Tests never modify any of them.
    """

    __test__ = False  # not a pytest class

    reference: Reference
    window: np.ndarray
    accumulator: Any = None
    profile: Any = None


# A distance statistic computed for many windows at once: (reference counts (K,),
# raw or prepared, window counts (R, K), reference profile) -> statistics (R,). Used
# to calibrate thresholds on resampled reference windows.
BatchStatistic = Callable[[Reference, np.ndarray, Any], np.ndarray]


@dataclass(frozen=True, slots=True)
class WindowTest:
    """A named window test.

    ``compute(reference_counts, window_counts)`` gets two int arrays on the same
    bins (the reference's may come prepared: a
    :class:`~stream_monitor.detectors.prepared.PreparedReference`). ``kind`` says
    whether the decision uses the p-value (``pvalue``) or compares the statistic to
    a threshold (``distance``). ``applies_to`` lists the feature types it accepts.
    """

    name: str
    kind: TestKind
    applies_to: frozenset[str]
    compute: Callable[[Reference, np.ndarray], StatResult]
    doc: str
    default_threshold: float | None = None  # distance tests only
    statistic: str = ""  # the statistic's name in readings; defaults to the test name
    # Tests that need the accumulator or the profile set ``compute_full``; then
    # ``compute`` (counts only) raises ``TypeError``. Call :meth:`run` to use either.
    compute_full: Callable[[TestInput], StatResult] | None = None
    # Distance tests: the statistic vectorised over rows of window counts, for calibration.
    batch: BatchStatistic | None = None
    # p-value tests: the smallest effect size (``StatResult.effect``) that may fire,
    # so that huge windows do not flag practically irrelevant shifts.
    default_effect: float | None = None

    __test__ = False  # not a pytest class

    def run(self, data: TestInput) -> StatResult:
        """Compute the test on ``data`` (counts, and the accumulator/profile if needed)."""
        if self.compute_full is not None:
            return self.compute_full(data)
        return self.compute(data.reference, data.window)


@dataclass(frozen=True, slots=True)
class StreamReading:
    """What a streaming detector reports: detections so far and its current estimate."""

    detections: int
    updates: int
    estimate: float
