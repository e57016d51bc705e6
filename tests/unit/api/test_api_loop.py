"""The loop API (stream_monitor.Monitor) decides exactly as `stream-monitor backtest` on the same events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stream_monitor
from stream_monitor.api import Monitor, Update
from stream_monitor.cli import main
from stream_monitor.tools.backtest import report_to_json
from stream_monitor.tools.simulate import Scenario, generate
from tests.conftest import ROOT

CONFIG = ROOT / "config" / "demo.yaml"


def _backtest(tmp_path: Path, events: Path) -> list[dict[str, object]]:
    out = tmp_path / "backtest.jsonl"
    assert main(["backtest", "--config", str(CONFIG), "--input", str(events), "--output", str(out)]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def _loop(lines: list[bytes], sizes: list[int]) -> list[dict[str, object]]:
    mon = stream_monitor.Monitor(CONFIG)
    out: list[dict[str, object]] = []

    def keep(u: Update) -> None:
        out.extend(report_to_json(w, partial=u.partial) for w in u.windows)
        out.extend({"type": "retrain_request", **r.model_dump(mode="json")} for r in u.requests)

    i = k = 0
    while i < len(lines):
        n = sizes[k % len(sizes)]
        # dicts, the wire format a producer sends; the broken line goes as raw bytes
        batch: list[object] = []
        for raw in lines[i:i + n]:
            try:
                batch.append(json.loads(raw))
            except ValueError:
                batch.append(raw)
        u = mon.update(batch)  # type: ignore[arg-type]
        keep(u)
        i, k = i + n, k + 1
    keep(mon.finish())
    return out


def test_loop_gives_the_backtests_windows_and_request_ids(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    assert main(["simulate", "--scenario", "abrupt", "--events", "6000", "--change-at", "3000",
                 "--output", str(events)]) == 0
    with events.open("ab") as fh:
        fh.write(b"{broken\n")
    lines = events.read_bytes().splitlines()
    expected = [x for x in _backtest(tmp_path, events) if x["type"] in ("window", "retrain_request")]
    got = _loop(lines, [777, 1, 2500, 64])
    key = lambda x: (x["type"], json.dumps(x, sort_keys=True))  # noqa: E731
    # the backtest writes a chunk's windows before its requests; compare as sets of lines, then order per type
    assert sorted(got, key=key) == sorted(expected, key=key)
    for kind in ("window", "retrain_request"):
        assert [x for x in got if x["type"] == kind] == [x for x in expected if x["type"] == kind]
    requests = [x for x in expected if x["type"] == "retrain_request"]
    assert len(requests) >= 1 and any(x["state"] == "drift" for x in expected if x["type"] == "window")


def test_refused_events_are_reported_with_their_reason() -> None:
    mon = Monitor(CONFIG)
    u = mon.update([b"{broken", {"kind": "prediction", "model_id": "nobody"}, {"x": float("nan")}])
    assert [r.row for r in u.rejected] == [0, 1, 2]
    assert all(r.reason for r in u.rejected)
    assert u.windows == () and u.requests == ()


def test_stream_monitor_exports_the_api_lazily() -> None:
    assert stream_monitor.Monitor is Monitor
    assert callable(stream_monitor.compare)
    import stream_monitor.pipeline.monitor as core

    assert core.Monitor is not Monitor  # the record-level core keeps its name and module


def test_a_dataframe_of_flat_events_decides_like_the_dicts() -> None:
    pd = pytest.importorskip("pandas")
    events = list(generate(Scenario(kind="abrupt", change_at=1500, seed=4), 3500))
    flat = pd.DataFrame([{k: v for k, v in e.items() if k != "features"} | e["features"] for e in events])
    by_dicts, by_frame = Monitor(CONFIG, now=2e9), Monitor(CONFIG, now=2e9)
    a = [by_dicts.update(events[i:i + 700]) for i in range(0, len(events), 700)] + [by_dicts.finish()]
    b = [by_frame.update(flat.iloc[i:i + 1000]) for i in range(0, len(flat), 1000)] + [by_frame.finish()]
    windows = [report_to_json(w) for u in a for w in u.windows]
    assert windows == [report_to_json(w) for u in b for w in u.windows]
    assert [r for u in a for r in u.request_ids] == [r for u in b for r in u.request_ids] != []
    assert not [r for u in b for r in u.rejected]
