"""Unit tests of stream_monitor.client."""
