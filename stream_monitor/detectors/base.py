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
from typing import Literal, Protocol

import numpy as np

__all__ = ["DetectorState", "StatResult", "StreamingDetector", "TestKind", "WindowTest"]

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


@dataclass(frozen=True, slots=True)
class WindowTest:
    """A named window test.

    ``compute(reference_counts, window_counts)`` gets two int arrays on the same
    bins. ``kind`` says whether the decision uses the p-value (``pvalue``) or
    compares the statistic to a threshold (``distance``). ``applies_to`` lists the
    feature types it accepts.
    """

    name: str
    kind: TestKind
    applies_to: frozenset[str]
    compute: Callable[[np.ndarray, np.ndarray], StatResult]
    doc: str
    default_threshold: float | None = None  # distance tests only
    statistic: str = ""  # the statistic's name in readings; defaults to the test name


class StreamingDetector(Protocol):
    """A per-event change detector (river style)."""

    def update(self, value: float) -> None: ...

    @property
    def state(self) -> DetectorState: ...
