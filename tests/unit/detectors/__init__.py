"""Unit tests of stream_monitor.detectors."""
