"""The detection benchmark reports, beside each decision delay, when the evidence first showed."""

from __future__ import annotations

from benchmarks.detection import _first_after, _stream_monitor, to_markdown
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import Scenario, demo_model_config, generate, reference_rows
from stream_monitor.windows.profile import build_profile


def test_an_abrupt_change_warns_first_and_is_decided_on_corroboration() -> None:
    # The benchmark's abrupt scenario on a shorter stream (seed 3): the first alarm comes 13 events
    # after the change (a warning), its corroboration 6 events later (the decision).
    spec = ModelSpec.model_validate(demo_model_config())
    ref = build_profile(spec, reference_rows(20_000, seed=1), source="test reference")
    events = list(generate(Scenario(kind="abrupt", change_at=3_000, seed=3), 4_000))
    decisions, warnings = _stream_monitor(events, spec, ref)
    delay, warning = _first_after(decisions, 3_000), _first_after(warnings, 3_000)
    assert delay is not None and warning is not None
    assert 0 < warning < delay < 100  # evidence first, then the decision, both within 100 events
    assert all(w in warnings for w in decisions)  # every decision is also a report in drift


def test_first_after_counts_from_the_point() -> None:
    assert _first_after([5, 12, 30], 10) == 2
    assert _first_after([5, 10], 10) is None


def test_the_table_shows_warnings_for_stream_monitor_only() -> None:
    row = {"delay": 24.0, "warning": 17.5, "low": 18, "high": 35, "misses": 0, "runs": 20,
           "fa_per_million": 0.0, "chance": 9_278.0}
    table = to_markdown([{**row, "scenario": "abrupt", "method": "stream-monitor defaults"},
                         {**row, "scenario": "abrupt", "method": "river ADWIN", "warning": None},
                         {**row, "scenario": "stationary", "method": "stream-monitor defaults"}],
                        20_000, 10_000, list(range(1, 21)))
    body = table.splitlines()[-3:]
    assert body[0] == "| abrupt | stream-monitor defaults | 24 (18-35) | 18 | 0/20 | 0 | 9,278 |"
    assert body[1] == "| abrupt | river ADWIN | 24 (18-35) | n/a | 0/20 | 0 | 9,278 |"
    assert body[2] == "| stationary | stream-monitor defaults | n/a | n/a | n/a | 0 | 9,278 |"
