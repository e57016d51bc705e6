"""Unit tests of stream_monitor.pipeline."""
