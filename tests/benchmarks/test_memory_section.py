"""The memory section judges peak RSS per run, then takes medians over the runs."""

from __future__ import annotations

from benchmarks.memory import memory_section, targets


def _row(run: int, models: int, events: int, peak: float) -> dict[str, float | int]:
    return {"run": run, "models": models, "events": events, "peak_rss_mb": peak, "state_bytes": 10,
            "state_json_bytes": 20, "cpu_us_per_event": 5.0}


def test_per_model_figures_come_from_each_runs_peaks() -> None:
    rows = [_row(0, 1, 100, 95.0), _row(0, 1, 200, 96.0), _row(0, 100, 100, 150.0),
            _row(1, 1, 100, 97.0), _row(1, 100, 100, 200.0)]
    t = targets(rows)
    assert t[1] == [96.0, 97.0]  # the peak of each run
    assert t[100] == [(150.0 - 96.0) / 99, (200.0 - 97.0) / 99]  # within the run, not across runs


def test_section_shows_medians_and_judges_both_targets() -> None:
    rows = [_row(r, m, 100, peak) for r, peaks in enumerate([(96.0, 180.0), (98.0, 160.0), (97.0, 170.0)])
            for m, peak in zip((1, 100), peaks, strict=True)]
    text = "\n".join(memory_section(rows, "test"))
    assert "Medians of 3 run(s)" in text
    assert "| 1 | 100 | 97.0 |" in text and "| 100 | 100 | 170.0 |" in text
    assert "**97.00 (96.00 - 98.00) MB** (target <= 100 MB: met)" in text
    assert "**0.74 (0.63 - 0.85) MB** (100 models against 1) (target <= 1 MB: met)" in text
    worse = [{**r, "peak_rss_mb": r["peak_rss_mb"] + (150.0 if r["models"] == 100 else 0.0)} for r in rows]
    assert "(target <= 1 MB: not met)" in "\n".join(memory_section(worse, "test"))


def test_rows_from_before_repeats_count_as_one_run() -> None:
    rows = [{k: v for k, v in _row(0, m, 100, p).items() if k != "run"} for m, p in ((1, 97.0), (10, 100.0))]
    assert targets(rows) == {1: [97.0], 10: [1.0 / 3]}
