"""Unit tests of stream_monitor.report."""
