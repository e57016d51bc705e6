"""The seeded examples in the detector, decision and state-codec docstrings run as doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "stream_monitor.detectors.adwin",
    "stream_monitor.detectors.distances",
    "stream_monitor.detectors.river_wrapped",
    "stream_monitor.detectors.two_sample",
    "stream_monitor.detectors.prepared",
    "stream_monitor.detectors.calibration",
    "stream_monitor.detectors.cusum",
    "stream_monitor.detectors.cusum_thresholds",
    "stream_monitor.detectors.roots",
    "stream_monitor.detectors.streaming",
    "stream_monitor.decisions.judge",
    "stream_monitor.windows.persist",
    "stream_monitor.windows.metric_values",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
