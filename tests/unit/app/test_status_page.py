"""The /status HTML renderer: escaping and empty states (the page itself: tests/integration)."""

from __future__ import annotations

from stream_monitor.app.status_page import render_status


def test_every_value_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    page = render_status(
        {
            "models": [{"model": evil, "version": "v'1", "state": "drift", "streak": 2, "window_events": 3,
                        "last_window_events": None, "drifted": [evil], "learning": False}],
            "features": [{"model": evil, "version": "v'1", "feature": evil, "detector": "ks", "value": 0.5,
                          "threshold": 0.1, "p_value": None, "drift": True}],
            "requests": [{"request_id": evil, "model_id": evil, "model_version": "v1", "severity": evil,
                          "features": [evil]}],
        },
        ready=False,
        problems=[evil],
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "v&#x27;1" in page


def test_empty_status() -> None:
    page = render_status({"models": [], "features": [], "requests": []})
    assert "no events yet" in page and "no window closed yet" in page and "none since the worker started" in page
    assert "Worker:" not in page  # readiness unknown: not shown
