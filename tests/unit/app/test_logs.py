"""Repeated log lines collapse into one summary line per kind and interval."""

from __future__ import annotations

import logging

import pytest

from stream_monitor.app.timers import RepeatFilter


def test_a_burst_of_errors_becomes_one_line_and_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    flt = RepeatFilter(interval_seconds=10.0, clock=lambda: now[0])
    caplog.handler.addFilter(flt)
    log = logging.getLogger("aiokafka.conn")
    try:
        # the logger's own level too: other code (the sidecar client) may have raised aiokafka's
        with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="aiokafka.conn"):
            for i in range(800):  # 80 a second for 10 s
                now[0] = i / 80
                log.error("Unable to connect to node %s: %s", 1, "refused")
                if i % 160 == 0:
                    log.info("progress %d", i)  # below the filter's level: all kept
            now[0] = 10.0
            flt.flush()
            log.warning("another kind")
    finally:
        caplog.handler.removeFilter(flt)
    errors = [r for r in caplog.records if r.name == "aiokafka.conn" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    [summary] = [r for r in caplog.records if r.name == "stream_monitor.logs"]
    assert summary.getMessage().startswith("799 more ERROR lines like 'Unable to connect to node %s: %s'")
    assert "refused" not in summary.getMessage()  # templates only, never arguments
    assert sum(r.levelno == logging.INFO for r in caplog.records) == 5
    assert caplog.records[-1].getMessage() == "another kind"


def test_a_kind_is_let_through_again_after_its_interval() -> None:
    now = [0.0]
    flt = RepeatFilter(interval_seconds=10.0, clock=lambda: now[0])
    rec = logging.LogRecord("x", logging.WARNING, __file__, 1, "down", None, None)
    assert flt.filter(rec) and not flt.filter(rec)
    now[0] = 10.5
    assert flt.filter(rec)
