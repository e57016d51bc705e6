"""The backtest replays the label path: labels as a second file or as a dump with kinds,
label-path windows in the output, the tail windows flushed as partial, and the same
decisions as a live Monitor fed the same records in any batches."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_monitor.cli import main
from stream_monitor.pipeline.monitor import Monitor, Outcome
from stream_monitor.settings import ServiceSettings
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.backtest import backtest_records, label_report_to_json, report_to_json, run_backtest
from stream_monitor.tools.simulate_labels import (
    LABELLED_MODEL,
    LabelScenario,
    generate_labelled,
    label_events,
    labelled_model_config,
    to_json,
)

N = 8300  # not a multiple of the windows: every path has a partial tail


def _files(tmp: Path) -> tuple[Path, Path, list[dict[str, Any]], list[dict[str, Any]]]:
    pairs = list(generate_labelled(LabelScenario(kind="concept", change_at=N // 2, seed=13), N))
    events = [p for p, _ in pairs]
    labs = label_events(events, [t for _, t in pairs], coverage=0.9, delay_seconds=(60.0, 600.0), shuffle=False,
                        seed=13)
    preds_path, labels_path = tmp / "predictions.jsonl", tmp / "labels.jsonl"
    preds_path.write_bytes(b"".join(to_json(e) + b"\n" for e in events))
    labels_path.write_bytes(b"".join(to_json({k: v for k, v in x.items() if k != "kind"}) + b"\n" for x in labs))
    return preds_path, labels_path, events, labs


def _settings() -> ServiceSettings:
    return ServiceSettings(models=[ModelSpec.model_validate(labelled_model_config())])


def _run(preds: Path, labels: Path | None, chunk: int = 1000) -> tuple[list[dict[str, Any]], dict[str, int]]:
    out = io.StringIO()
    summary = run_backtest(_settings(), {LABELLED_MODEL: None}, preds, out, chunk=chunk, labels=labels)
    return [json.loads(x) for x in out.getvalue().splitlines()], summary


def _decisions(lines: list[dict[str, Any]]) -> list[Any]:
    """What was decided, without where the records came from (file names, line numbers)."""
    return [x for x in lines if x["type"] != "dead_letter"]


def test_labels_file_gives_label_windows_requests_and_a_partial_tail(tmp_path: Path) -> None:
    preds, labels, events, labs = _files(tmp_path)
    lines, summary = _run(preds, labels)
    assert summary["lines"] == len(events) + len(labs) and summary["dead_letters"] == 0
    label_windows = [x for x in lines if x["type"] == "label_window"]
    assert summary["label_windows"] == len(label_windows) > 0
    kinds = {r["kind"] for x in label_windows for r in x["readings"]}
    assert {"performance", "concept", "fairness", "estimate"} <= kinds
    assert {x["source"] for x in label_windows} == {"pairs", "predictions"}
    # the concept change is seen through the labels (performance and the error stream) and requested
    requests = [x for x in lines if x["type"] == "retrain_request"]
    assert requests and all(x["model_id"] == LABELLED_MODEL for x in requests)
    breaches = {(r["kind"], r["metric"]) for x in label_windows for r in x["readings"] if r["breach"]}
    assert {("performance", "accuracy"), ("estimate", "accuracy"), ("concept", "ddm")} <= breaches
    # the tail: every open window, drift and label path, closed at the end and marked partial
    partial = [x for x in lines if x.get("partial")]
    assert summary["partial_windows"] == len(partial) > 0
    assert lines.index(partial[0]) > max(i for i, x in enumerate(lines) if x["type"] in ("window", "label_window")
                                         and not x["partial"])
    assert {(x["type"], x.get("source")) for x in partial} == {
        ("window", None), ("label_window", "pairs"), ("label_window", "predictions")}
    assert all(x["window"]["events"] < 1000 for x in partial)
    # every prediction lands in exactly one prediction window of the label path
    fair_windows = [x for x in label_windows if x["source"] == "predictions"]
    assert sum(x["window"]["events"] for x in fair_windows) == N - 1000  # the first 1000 learn group shares


def test_a_dump_with_kinds_gives_the_same_decisions(tmp_path: Path) -> None:
    preds, labels, _, _ = _files(tmp_path)
    dump = tmp_path / "dump.jsonl"
    with dump.open("wb") as fh:
        for rec in backtest_records(preds, labels):
            value = json.loads(rec.value or b"{}")
            fh.write(to_json({"kind": rec.kind, **value}) + b"\n")
    assert _decisions(_run(dump, None)[0]) == _decisions(_run(preds, labels)[0])


def test_cli_backtest_with_labels(tmp_path: Path) -> None:
    preds, labels, _, _ = _files(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"models": [labelled_model_config()]}))  # JSON is YAML
    out = tmp_path / "out.jsonl"
    assert main(["backtest", "--config", str(config), "--input", str(preds), "--labels", str(labels),
                 "--output", str(out)]) == 0
    assert out.read_text().splitlines() == [json.dumps(x, sort_keys=True) for x in _run(preds, labels)[0]]


_CACHE: dict[str, Any] = {}


def _reference(tmp: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    if "lines" not in _CACHE:
        preds, labels, _, _ = _files(tmp)
        _CACHE["records"] = list(backtest_records(preds, labels))
        _CACHE["lines"] = _run(preds, labels)[0]
    return _CACHE["records"], _CACHE["lines"]


def _live_lines(outcome: Outcome) -> list[dict[str, Any]]:
    out = [report_to_json(r, partial=outcome.partial) for r in outcome.reports]
    out += [label_report_to_json(r, partial=outcome.partial) for b in outcome.outcomes.values() for r in b.reports]
    out += [{"type": "retrain_request", **q.model_dump(mode="json")} for q in outcome.requests]
    return [json.loads(json.dumps(x, sort_keys=True)) for x in out]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=30))
def test_live_monitor_in_any_batches_decides_as_the_backtest(tmp_path: Path, cuts: list[int]) -> None:
    """The live Monitor, fed the backtest's records in arbitrary batches (then ``finish``),
    closes the same windows with the same readings and makes the same requests."""
    records, expected = _reference(tmp_path)
    mon = Monitor(_settings().models, {LABELLED_MODEL: None}, max_message_bytes=1 << 20)
    got: list[dict[str, Any]] = []
    i = k = 0
    while i < len(records):
        size = cuts[k % len(cuts)]
        got += _live_lines(mon.observe(records[i:i + size], now=0.0))
        i, k = i + size, k + 1
    got += _live_lines(mon.finish())
    key = lambda x: json.dumps(x, sort_keys=True)  # noqa: E731  # batches change only the order across models
    assert sorted(map(key, got)) == sorted(map(key, _decisions(expected)))
    assert len(got) == len(_decisions(expected))
