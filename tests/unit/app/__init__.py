"""Unit tests of stream_monitor.app."""
