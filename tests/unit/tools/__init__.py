"""Unit tests of stream_monitor.tools."""
