"""Unit tests of stream_monitor.sidecar."""
