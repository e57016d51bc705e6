"""The latency benchmark's stage arithmetic: stamps from the traced worker become each
window's stage times, and the stage table reports each span between them."""

from __future__ import annotations

from pathlib import Path

from benchmarks.latency import _stages, fetch_note, percentile, section, stage_table


def test_percentile_is_the_value_goals_takes() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 0.99) == 100.0  # of 100 windows, the largest (as benchmarks.goals)
    assert percentile(values, 0.9) == 91.0
    assert percentile(values, 0.5) == 51.0
    assert percentile([7.0], 0.99) == 7.0


def test_stamps_belong_to_the_window_sent_before_them(tmp_path: Path) -> None:
    trace = tmp_path / "w.trace"
    trace.write_text("\n".join([
        "fetched 0.500000 0.400000",  # before the first window: someone else's records
        "fetched 1.020000 0.990000", "handed 1.030000", "decided 1.070000",
        "publish_start 1.071000", "published 1.073000",
        "fetched 2.040000 2.030000", "handed 2.041000", "decided 2.090000",
        "publish_start 2.090500", "published 2.092000",
    ]) + "\n")
    windows = [{"start": 1.0, "sent": 1.005, "received": 1.080},
               {"start": 2.0, "sent": 2.004, "received": 2.100}]
    rows = _stages(trace, windows)
    assert rows[0] == {"start": 1.0, "sent": 1.005, "received": 1.080, "fetch_issued": 0.99, "fetched": 1.02,
                       "handed": 1.03, "decided": 1.07, "publish_start": 1.071, "published": 1.073}
    assert rows[1]["fetch_issued"] == 2.03 and rows[1]["fetched"] == 2.04 and rows[1]["published"] == 2.092


def test_stage_table_spans_each_stage_and_the_whole() -> None:
    rows = [{"start": 0.0, "sent": 0.005, "fetch_issued": 0.0, "fetched": 0.015, "handed": 0.025,
             "decided": 0.075, "publish_start": 0.0752, "published": 0.077, "received": 0.080 + i / 1000}
            for i in range(3)]
    lines = stage_table(rows)
    by_stage = {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}
    assert by_stage["handed -> decided"].endswith("| 50.0 | 50.0 | 50.0 | 50.0 |")
    assert by_stage["published -> received"].endswith("| 4.0 | 5.0 | 5.0 | 5.0 |")
    assert by_stage["**sent -> published**"].endswith("| 72.0 | 72.0 | 72.0 | 72.0 |")
    assert by_stage["**start -> received**"].endswith("| 81.0 | 82.0 | 82.0 | 82.0 |")
    assert "median 5.0 ms" in fetch_note(rows)


def test_a_window_without_its_request_fails_the_target() -> None:
    rows = [{"start": 0.0, "sent": 0.005, "received": 0.1}] * 99 + [{"start": 0.0, "sent": 0.005,
                                                                      "received": float("inf")}]
    text = "\n".join(section(rows))
    assert "p99 inf ms" in text and "**not met**" in text
    assert "**met**" in "\n".join(section(rows[:99]))
