"""(4) Detectors: window tests on binned counts and streaming change detectors."""

from stream_monitor.detectors.base import DetectorState, StatResult, StreamingDetector, WindowTest
from stream_monitor.detectors.registry import WINDOW_TESTS, get_test

__all__ = ["WINDOW_TESTS", "DetectorState", "StatResult", "StreamingDetector", "WindowTest", "get_test"]
