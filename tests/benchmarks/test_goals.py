"""The goals table reads the benchmarks' JSON and judges each goal against its target."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.goals import goals, table


def _write(directory: Path, name: str, data: object) -> None:
    (directory / name).write_text(json.dumps(data))


def test_every_goal_is_listed_as_not_measured_without_results(tmp_path: Path) -> None:
    rows = goals(tmp_path)
    assert len(rows) == 8
    assert all(g.figure == "not measured" and g.met is None for g in rows)
    body = table(rows).splitlines()[2:]
    assert len(body) == 8 and all(line.endswith("| not measured | - | - | not measured | - |") for line in body)


def test_goals_are_judged_from_the_measured_figures(tmp_path: Path) -> None:
    _write(tmp_path, "performance.json", {
        "throughput": {"runs": {"worker_single": [90.0, 110.0, 100.0], "bare_faust": [100.0, 100.0, 100.0]}},
        "latency": [0.2] * 99 + [0.3],
        "memory": [{"models": 1, "peak_rss_mb": 95.0}, {"models": 1, "peak_rss_mb": 96.0},
                   {"models": 10, "peak_rss_mb": 104.0}, {"models": 100, "peak_rss_mb": 210.0}],
    })
    _write(tmp_path, "core.json", {
        "numeric": 30, "local": {"core": 9.0, "decode": 4.5, "core_without_validation": 4.5},
        "peers": {"NannyML univariate drift": {"us_per_event": 50.0, "events": 20_000}},
    })
    _write(tmp_path, "columnar.json", {
        "broker": {"worker_columns": [160_000.0], "ceiling_rows": [170_000.0], "ceiling_columns": [400_000.0]},
    })
    _write(tmp_path, "scaleout.json", {"runs": {"1": [{"cpu_us": 50.0}], "2": [{"cpu_us": 56.0}],
                                                "4": [{"cpu_us": 60.0}]}})
    met = [(g.goal.split(":")[0], g.met) for g in goals(tmp_path)]
    assert met == [
        ("row events, one per message", True),        # median ratio 1.00
        ("columnar envelopes", True),                 # 160k events/s, 0.94 of the row-format ceiling
        ("columnar envelopes", None),                 # against the same bytes: reported, no pass/fail
        ("core cost per event, validation excluded (columnar; 30 numeric + 5 categorical; default suite)",
         True),                                       # 9.0 - 4.5 = 4.5 us
        ("scale-out", False),                         # 4 workers: 1.20x one worker's CPU per event
        ("memory", True),                             # one model: 96 MB at the peak
        ("memory", False),                            # 10 models: 0.89 MB each; 100 models: 1.15 MB each
        ("drifted window -> retrain request on the topic, p99", False),  # the 99th of 100 is 0.3 s
    ]


def test_the_core_goal_shows_the_peers_of_the_same_run(tmp_path: Path) -> None:
    _write(tmp_path, "core.json", {
        "numeric": 30, "local": {"core": 30.0, "decode": 10.0, "core_without_validation": 20.0},
        "peers": {"NannyML univariate drift": {"us_per_event": 50.0, "events": 20_000},
                  "Evidently DataDriftPreset": {"us_per_event": 2_000.0, "events": 4_000},
                  "river ADWIN": {"us_per_event": 1.0, "events": 20_000}},
    })
    core = next(g for g in goals(tmp_path) if g.goal.startswith("core cost"))
    assert (core.figure, core.ratio, core.met, core.source) == ("20.0 us", "0.40 of NannyML", False, "core")
    assert core.baseline == "Evidently DataDriftPreset 2,000.0 us; NannyML univariate drift 50.0 us"
