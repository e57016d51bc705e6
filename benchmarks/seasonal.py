"""Seasonal traffic: false requests when the cycle follows the reference, delays when it changes.

Every job draws a reference of ``--reference-days`` whole days and a stream of
``--days`` days from :mod:`stream_monitor.tools.seasonal_streams` (a daily cycle
in four of five features and in the category mix; ``--rate`` events per second;
windows of 1,000 events) with its own seeds, and runs the pure core in process
(``ModelMonitor``). Scenarios:

* ``stationary``: the stream follows the reference's cycle; every request is false;
* ``stationary_off``: the same, with seasonality off (the cycle is taken for drift);
* ``shift_6h`` / ``amplitude_x2``: from the start of the stream's second day the
  cycle is shifted by 6 hours / its amplitude doubled;
* ``shift_1h`` / ``amplitude_x1.25``: the same, subtler: one hour, a quarter more.

For the changes, reported is the delay from the change to the first request, in
events and in hours of event time.

Run ``python -m benchmarks.seasonal`` (``--seeds``, ``--processes``); it prints a
markdown table and writes it with the date, machine and command to
``benchmarks/results/seasonal.md``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.provenance import command, machine, publish, when
from stream_monitor.events import PredictionEvent
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.seasonal_streams import DAY, CycleChange, model_config, prediction_events, rows_between
from stream_monitor.windows.profile import build_profile

__all__ = ["main", "run_job"]

RESULTS = Path(__file__).parent / "results" / "seasonal.md"
T0 = 1_767_225_600.0
CHANGES = {"shift_6h": (6.0, 1.0), "amplitude_x2": (0.0, 2.0), "shift_1h": (1.0, 1.0), "amplitude_x1.25": (0.0, 1.25)}
SCENARIOS = ("stationary", "stationary_off", *CHANGES)


def run_job(job: tuple[str, int, float, float, float]) -> dict[str, Any]:
    """One scenario, one seed: windows, drifted windows, requests and the first request's delay."""
    scenario, seed, days, ref_days, rate = job
    seasonal = scenario != "stationary_off"
    spec = ModelSpec.model_validate(model_config(**({"seasonality": {"period": "1d", "buckets": 24}}
                                                    if seasonal else {})))
    ref = build_profile(spec, rows_between(T0, T0 + ref_days * DAY, seed=10_000 + seed, rate=rate),
                        source=f"reference {seed}")
    start = T0 + ref_days * DAY
    change = None
    if scenario in CHANGES:
        shift, amplitude = CHANGES[scenario]
        change = CycleChange(at=start + DAY, shift_hours=shift, amplitude=amplitude)
    events = [PredictionEvent.model_validate(e)
              for e in prediction_events(start, start + days * DAY, seed=seed, rate=rate, change=change)]
    mon = ModelMonitor(spec, ref)
    windows = drifted = requests = 0
    first: float | None = None
    t0 = time.process_time()
    for i in range(0, len(events), 2_000):
        out = mon.observe(events[i:i + 2_000])
        windows += len(out.reports)
        drifted += sum(r.model_drift for r in out.reports)
        requests += len(out.requests)
        if out.requests and first is None:
            first = out.requests[0].created_at
    delay_events = delay_hours = None
    if change is not None and first is not None:
        delay_events = sum(1 for e in events if change.at <= e.timestamp <= first)
        delay_hours = round((first - change.at) / 3600, 2)
    return {"scenario": scenario, "seed": seed, "events": len(events), "windows": windows, "drifted": drifted,
            "requests": requests, "delay_events": delay_events, "delay_hours": delay_hours,
            "early": first is not None and change is not None and first < change.at,
            "cpu_seconds": round(time.process_time() - t0, 1)}


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| scenario | jobs | events | windows | drifted windows | requests | found | "
             "median delay (events) | median delay (hours) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in SCENARIOS:
        rs = [r for r in results if r["scenario"] == s]
        if not rs:
            continue
        changed = s not in ("stationary", "stationary_off")
        found = [r for r in rs if r["delay_events"] is not None and not r["early"]]
        ev = sorted(r["delay_events"] for r in found)
        hrs = sorted(r["delay_hours"] for r in found)
        med_e = f"{ev[len(ev) // 2]:,}" if changed and ev else "-"
        med_h = f"{hrs[len(hrs) // 2]}" if changed and hrs else "-"
        lines.append(f"| {s} | {len(rs)} | {sum(r['events'] for r in rs):,} | {sum(r['windows'] for r in rs):,} | "
                     f"{sum(r['drifted'] for r in rs)} | {sum(r['requests'] for r in rs)} | "
                     f"{f'{len(found)}/{len(rs)}' if changed else '-'} | {med_e} | {med_h} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--days", type=float, default=3.0, help="days of stream per job")
    p.add_argument("--reference-days", type=float, default=4.0)
    p.add_argument("--rate", type=float, default=0.25, help="events per second on average")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    jobs = [(s, 201 + i, args.days, args.reference_days, args.rate) for s in SCENARIOS for i in range(args.seeds)]
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = list(pool.imap_unordered(run_job, jobs))
    results.sort(key=lambda r: (SCENARIOS.index(r["scenario"]), r["seed"]))
    text = "\n".join([
        "# Seasonal traffic",
        "",
        f"Measured {when()} ({machine()}), in {time.perf_counter() - t0:.0f} s wall:",
        f"`{command('benchmarks.seasonal', argv)}`. Reference: {args.reference_days:g} whole days; "
        f"stream: {args.days:g} days at "
        f"{args.rate:g} events/s (a 1,000-event window is about {1000 / args.rate / 3600:.1f} h); "
        "24 one-hour phase buckets; a change starts at the stream's second day.",
        "",
        table(results),
        "",
        "Per job:",
        "",
        "| scenario | seed | events | windows | drifted | requests | delay (events) | delay (hours) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {r['scenario']} | {r['seed']} | {r['events']:,} | {r['windows']} | {r['drifted']} | {r['requests']} | "
          f"{r['delay_events'] if r['delay_events'] is not None else '-'} | "
          f"{r['delay_hours'] if r['delay_hours'] is not None else '-'} |" for r in results),
        "",
    ])
    publish(text, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
