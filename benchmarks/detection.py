"""Detection delay and false alarms: stream-monitor's defaults vs river's detectors.

For every scenario of :mod:`stream_monitor.tools.simulate` and a few seeds, the same
stream goes through

* stream-monitor with its default configuration (the demo model, windows of
  1000 events, the per-event CUSUMs on): a *decision* is an entry into the
  drift state;
* stream-monitor with window tests only (``detectors.sequential.enabled:
  false``), for comparison;
* river's ADWIN, KSWIN and PageHinkley at their defaults, one detector per
  numeric stream (the three numeric features and the score; river's detectors
  take numbers, so the two categorical features are not seen by them): a
  decision is any of those detectors firing.

The change point is drawn per seed from [10,000, 11,000): at a fixed point a
method with a clock (ADWIN checks every 32 events, windows close every 1000)
would be measured at one phase only. Delay is the number of events from the
change point to the first decision at or after it (the median over seeds; "-" when a method missed the change in
some seed, with the count of misses). False alarms are decisions before the
change point (the whole stream when stationary), per million events, pooled
over seeds.

Twenty seeds by default: with five, medians of the gradual change moved by
~10% between seed sets, which is as large as the differences measured. KSWIN
costs ~150 us per update, so it runs on the first five seeds only (its delays
equal its chance firings anyway); the table says how many runs each row has.

Run ``python -m benchmarks.detection`` (about 15 minutes); it prints a markdown
table and writes it to ``benchmarks/results/detection.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from river import drift

from stream_monitor.events import PredictionEvent
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate import SCENARIOS, Scenario, demo_model_config, generate, reference_rows
from stream_monitor.windows.profile import build_profile

__all__ = ["main", "run"]

NUMERIC_STREAMS = ("amount", "age", "account_age_days")
RIVER: dict[str, Callable[[], Any]] = {
    "river ADWIN": drift.ADWIN,
    "river KSWIN": lambda: drift.KSWIN(seed=0),  # seeded so the benchmark repeats
    "river PageHinkley": drift.PageHinkley,
}
SLOW = {"river KSWIN"}  # run on the first ``slow_seeds`` seeds only


# Event counts of a method's decisions, and of its warnings (evidence short of a decision).
Outcome = tuple[list[int], list[int]]


def _stream_monitor(events: list[dict[str, Any]], spec: ModelSpec, ref: Any) -> Outcome:
    """Event counts at which stream-monitor entered the drift state, and at which a report
    was in warning or drift (a first breached window, or an alarm not yet corroborated)."""
    mon = ModelMonitor(spec, ref)
    out = mon.observe([PredictionEvent.model_validate(e) for e in events])
    decisions, warnings, previous = [], [], "ok"
    seen = 0
    for r in out.reports:
        seen += r.window.events
        if r.state.value == "drift" and previous != "drift":
            decisions.append(seen)
        if r.state.value in ("warning", "drift"):
            warnings.append(seen)
        previous = r.state.value
    return decisions, warnings


def _first_after(counts: list[int], point: int) -> int | None:
    """Events from ``point`` to the first count after it."""
    return next((c - point for c in counts if c > point), None)


def _river(events: list[dict[str, Any]], factory: Callable[[], Any]) -> Outcome:
    streams = {name: factory() for name in (*NUMERIC_STREAMS, "score")}
    decisions = []
    for i, e in enumerate(events):
        values = {**{k: e["features"][k] for k in NUMERIC_STREAMS}, "score": e["score"]}
        fired = False
        for name, det in streams.items():
            det.update(values[name])
            fired = fired or det.drift_detected
        if fired:
            decisions.append(i + 1)
    return decisions, []  # river's detectors have no warning state


def change_point(change_at: int, seed: int) -> int:
    """The change point of one seed: ``change_at`` plus a seeded offset below 1000."""
    return change_at + int(np.random.default_rng(seed).integers(0, 1000))


def run(events: int, change_at: int, seeds: list[int], slow_seeds: int = 5,
        methods_only: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows per scenario and method; ``methods_only`` keeps the methods whose name contains one of them."""
    spec = ModelSpec.model_validate(demo_model_config())
    seq = spec.detectors.sequential.model_copy(update={"enabled": False})
    windows_only = spec.model_copy(update={"detectors": spec.detectors.model_copy(update={"sequential": seq})})
    ref = build_profile(spec, reference_rows(20_000, seed=1), source="benchmark reference")
    methods: dict[str, Callable[[list[dict[str, Any]]], Outcome]] = {
        "stream-monitor defaults": lambda evs: _stream_monitor(evs, spec, ref),
        "stream-monitor window tests only": lambda evs: _stream_monitor(evs, windows_only, ref),
        **{name: (lambda evs, f=f: _river(evs, f)) for name, f in RIVER.items()},
    }
    if methods_only:
        methods = {m: fn for m, fn in methods.items() if any(x in m for x in methods_only)}
    rows = []
    quiet: dict[tuple[str, int], list[int]] = {}  # (method, seed) -> decisions on the stationary stream
    for kind in SCENARIOS:
        for method, fn in methods.items():
            chance: list[int] = []
            delays: list[int] = []
            warned: list[int] = []
            misses = false_alarms = quiet_events = 0
            method_seeds = seeds[:slow_seeds] if method in SLOW else seeds
            if not method_seeds:  # --slow-seeds 0 leaves KSWIN out
                continue
            t0 = time.perf_counter()
            for seed in method_seeds:
                cp = None if kind == "stationary" else change_point(change_at, seed)
                evs = list(generate(Scenario(kind=kind, change_at=cp, seed=seed), events))  # type: ignore[arg-type]
                decisions, warnings = fn(evs)
                if cp is None:
                    quiet[(method, seed)] = decisions
                else:  # the same point on the stationary stream: how soon a chance firing comes
                    later = [d - cp for d in quiet.get((method, seed), []) if d > cp]
                    chance.append(later[0] if later else events - cp)
                limit = events if cp is None else cp
                false_alarms += sum(d <= limit for d in decisions)
                quiet_events += limit
                if cp is not None:
                    delay, warning = _first_after(decisions, cp), _first_after(warnings, cp)
                    if delay is not None:
                        delays.append(delay)
                    else:
                        misses += 1
                    if warning is not None:
                        warned.append(warning)
            rows.append({
                "scenario": kind,
                "method": method,
                "delay": statistics.median(delays) if delays and not misses else None,
                "warning": statistics.median(warned) if warned and len(warned) == len(method_seeds) else None,
                "chance": statistics.median(chance) if chance else None,
                "low": min(delays, default=0),
                "high": max(delays, default=0),
                "misses": misses,
                "runs": len(method_seeds),
                "fa_per_million": 1e6 * false_alarms / quiet_events,
                "seconds": time.perf_counter() - t0,
            })
    return rows


def _seed_range(seeds: list[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def to_markdown(rows: list[dict[str, Any]], events: int, change_at: int, seeds: list[int],
                slow_seeds: int = 5) -> str:
    lines = [
        f"Streams of {events:,} events, change at a seeded event in [{change_at:,}, {change_at + 1000:,}) "
        f"(stationary: none), seeds {_seed_range(seeds)} "
        f"({f'river KSWIN: the first {min(slow_seeds, len(seeds))}' if slow_seeds > 0 else 'river KSWIN not run'}). "
        "Delay: median events from the change to "
        "the first decision (range in brackets). False alarms: decisions before the change, per million events. "
        "Chance firing: the median events from the same point of the stationary stream (same seed) to the "
        "method's next decision there (the stream's end when none): a delay not clearly below it is chance, "
        "not detection. First warning: stream-monitor's median events from the change to its first report in "
        "warning or drift (an alarm not yet corroborated, or a first breached window); the decision follows "
        "when the evidence is corroborated. river's detectors have no warning state.",
        "",
        "| scenario | method | delay (events) | first warning (events) | missed | false alarms / 1M events "
        "| chance firing after (events) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        delay = "n/a" if r["scenario"] == "stationary" else (
            f"{r['delay']:,.0f} ({r['low']:,}-{r['high']:,})" if r["delay"] is not None else "-")
        missed = "n/a" if r["scenario"] == "stationary" else f"{r['misses']}/{r['runs']}"
        chance = "n/a" if r.get("chance") is None else f"{r['chance']:,.0f}"
        warning = "n/a" if r["scenario"] == "stationary" or not r["method"].startswith("stream-monitor") else (
            "-" if r.get("warning") is None else f"{r['warning']:,.0f}")
        lines.append(f"| {r['scenario']} | {r['method']} | {delay} | {warning} | {missed} "
                     f"| {r['fa_per_million']:,.0f} | {chance} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--change-at", type=int, default=10_000)
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 21)))
    p.add_argument("--slow-seeds", type=int, default=5, help="seeds for river's KSWIN (the first ones; 0: none)")
    p.add_argument("--methods", nargs="+", default=None,
                   help="run only the methods whose name contains one of these (e.g. defaults ADWIN)")
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "detection.md"))
    args = p.parse_args(argv)
    rows = run(args.events, args.change_at, args.seeds, args.slow_seeds, args.methods)
    table = to_markdown(rows, args.events, args.change_at, args.seeds, args.slow_seeds)
    print(table)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    day = datetime.datetime.now(datetime.UTC).date().isoformat()
    when = f"{day} ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})"
    out.write_text(f"# Detection benchmark\n\nGenerated by `python -m benchmarks.detection` on {when}.\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
