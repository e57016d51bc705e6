"""Unit tests of stream_monitor.sinks."""
