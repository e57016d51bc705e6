"""Unit tests of stream_monitor.api."""
