"""Unit tests of stream_monitor.windows."""
