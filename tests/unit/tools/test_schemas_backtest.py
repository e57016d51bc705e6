"""Exported JSON Schemas are current and describe real events; backtests are bit-for-bit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema

from stream_monitor.cli import main
from stream_monitor.settings import ServiceSettings
from stream_monitor.tools.backtest import run_backtest
from stream_monitor.tools.docs_gen import all_schemas
from stream_monitor.tools.simulate import Scenario, generate
from tests.conftest import ROOT


def test_committed_schemas_are_generated_from_the_code() -> None:
    for name, schema in all_schemas().items():
        committed = json.loads((ROOT / "schemas" / f"{name}.json").read_text())
        assert committed == json.loads(json.dumps(schema)), f"schemas/{name}.json is stale: run make schemas"


def test_simulated_events_validate_against_the_exported_schema() -> None:
    schema = all_schemas()["prediction-event"]
    for event in generate(Scenario(), 50):
        jsonschema.validate(event, schema)


def _backtest(tmp_path: Path, events_file: Path, name: str) -> tuple[str, dict[str, int]]:
    settings = ServiceSettings.from_yaml(ROOT / "config" / "demo.yaml")
    from stream_monitor.config.references import load_references

    out = tmp_path / name
    with out.open("w") as fh:
        summary = run_backtest(settings, load_references(settings), events_file, fh, chunk=333)
    return hashlib.sha256(out.read_bytes()).hexdigest(), summary


def test_backtest_is_deterministic_and_reports_windows(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    assert main(["simulate", "--scenario", "abrupt", "--events", "6000", "--change-at", "3000",
                 "--output", str(events)]) == 0
    with events.open("ab") as fh:
        fh.write(b"{broken\n")
    h1, s1 = _backtest(tmp_path, events, "a.jsonl")
    h2, s2 = _backtest(tmp_path, events, "b.jsonl")
    assert h1 == h2 and s1 == s2
    lines = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    kinds = [x["type"] for x in lines]
    windows = [x for x in lines if x["type"] == "window"]
    # Windows of 1000, except two the CUSUM alarms closed a few events after the change: the
    # first alarm (evidence) and the one that corroborated it (the request comes from it); the
    # last window, still open at the end of the file, is flushed and marked partial. The next
    # whole window names more features at a higher severity: an update superseding the request.
    # label windows: the fairness path's prediction windows of 1000 after the 1000 events that learn
    # the group shares (the file has no labels, so no window of joined pairs)
    assert s1 == {"lines": 6001, "windows": 8, "label_windows": 5, "partial_windows": 1, "requests": 2,
                  "dead_letters": 1}
    assert kinds.count("window") == 8 and kinds.count("retrain_request") == 2
    sizes = [w["window"]["events"] for w in windows]
    assert sizes[:3] == [1000] * 3 and sizes[3] < 100 and sizes[4] < 100 and sizes[5:7] == [1000] * 2, sizes
    assert [w["partial"] for w in windows] == [False] * 7 + [True]
    assert sum(sizes) == 6000  # every event is in exactly one window
    first, update = (x for x in lines if x["type"] == "retrain_request")
    assert first["supersedes"] is None and update["supersedes"] == first["request_id"]
    assert set(first["features"]) < set(update["features"])
    req = next(x for x in lines if x["type"] == "retrain_request")
    assert {r["feature"] for r in req["reasons"]} <= {"amount", "country", "__prediction__"}
    dl = next(x for x in lines if x["type"] == "dead_letter")
    assert dl == {"type": "dead_letter", "file": "events.jsonl", "line": 6001, "index": None,
                  "reason": "invalid_json", "message": "payload is not valid JSON"}
