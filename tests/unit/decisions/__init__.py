"""Unit tests of stream_monitor.decisions."""
