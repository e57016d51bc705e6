"""Unit tests of stream_monitor.validation."""
