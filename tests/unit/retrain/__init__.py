"""Unit tests of stream_monitor.retrain."""
