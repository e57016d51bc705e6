"""(4) Detectors: window tests on binned counts and streaming change detectors."""

from stream_monitor.detectors.base import (
    DetectorState,
    StatResult,
    StreamReading,
    TestInput,
    WindowTest,
)
from stream_monitor.detectors.registry import WINDOW_TESTS, get_test
from stream_monitor.detectors.streaming import STREAMING, build_streaming, restore_streaming

__all__ = [
    "STREAMING",
    "WINDOW_TESTS",
    "DetectorState",
    "StatResult",
    "StreamReading",
    "TestInput",
    "WindowTest",
    "build_streaming",
    "get_test",
    "restore_streaming",
]
