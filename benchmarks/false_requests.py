"""False retrain requests on long stationary streams, at the product's defaults.

Every job is one model, one reference draw and one stream drawn from the same
process as the reference (a different seed): nothing changes, so every retrain
request is a false one, and so is every drift decision. Two generators:

* ``demo``: the demo model (:mod:`stream_monitor.tools.simulate`), references of
  5,000 and 20,000 rows from several seeds;
* ``random``: a random model per seed (:mod:`stream_monitor.tools.random_streams`:
  3-8 numeric features of nine families, 1-3 categorical ones, a random
  copula), references of 5,000 and 20,000 rows.

The stream goes through the pure core in process (``ModelMonitor``, the same
code the worker runs after decoding). Reported per generator and pooled: events, windows,
sequential alarms (evidence), drifted windows, entries into the drift state,
and retrain requests, each per million events.

Run ``python -m benchmarks.false_requests`` (``--events`` per job, ``--jobs``
per generator, ``--processes``); it prints a markdown table and writes it
with the date, machine and command to ``benchmarks/results/false_requests.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.provenance import command, machine, publish, when
from stream_monitor.events import PredictionEvent
from stream_monitor.pipeline.model_monitor import ModelMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.random_streams import draw, events, random_model
from stream_monitor.tools.simulate import Scenario, demo_model_config, generate
from stream_monitor.windows.profile import build_profile

__all__ = ["main", "run_job"]

RESULTS = Path(__file__).parent / "results" / "false_requests.md"
CHUNK = 20_000


def _setup(generator: str, seed: int, ref_rows: int) -> tuple[ModelSpec, Any, Any]:
    """The spec, the reference profile and a function ``(n, start) -> events`` of one job."""
    if generator == "demo":
        spec = ModelSpec.model_validate(demo_model_config())
        rows = ({**e["features"], "score": e["score"], "prediction": e["prediction"]}
                for e in generate(Scenario(seed=10_000 + seed), ref_rows))
        ref = build_profile(spec, rows, source=f"demo reference seed {10_000 + seed}")

        def stream(n: int, start: int) -> Any:
            return generate(Scenario(seed=seed), n, start=start)
    else:
        model = random_model(seed)
        spec = ModelSpec.model_validate(model.config())
        ref = build_profile(spec, draw(model, ref_rows, seed=10_000 + seed), source=f"random reference {seed}")

        def stream(n: int, start: int) -> Any:
            return events(model, n, seed=seed, start=start)
    return spec, ref, stream


def run_job(job: tuple[str, int, int, int]) -> dict[str, Any]:
    """One stationary stream: counts of what the monitor decided on it."""
    generator, seed, ref_rows, n = job
    spec, ref, stream = _setup(generator, seed, ref_rows)
    mon = ModelMonitor(spec, ref)
    counts: Counter[str] = Counter()
    alarm_features: Counter[str] = Counter()
    drift_features: Counter[str] = Counter()
    previous = "ok"
    t0 = time.process_time()
    for start in range(0, n, CHUNK):
        batch = [PredictionEvent.model_validate(e) for e in stream(min(CHUNK, n - start), start)]
        out = mon.observe(batch)
        counts["requests"] += len(out.requests)
        for r in out.reports:
            counts["windows"] += 1
            counts["drifted_windows"] += r.model_drift
            alarms = [x for x in r.readings if x.detector == "cusum" and x.value > 0]
            counts["alarms"] += int(sum(x.value for x in alarms))
            alarm_features.update(x.feature for x in alarms)
            drift_features.update(r.drifted)
            if r.state.value == "drift" and previous != "drift":
                counts["drift_entries"] += 1
            previous = r.state.value
    return {"generator": generator, "seed": seed, "reference_rows": ref_rows, "events": n,
            "cpu_seconds": round(time.process_time() - t0, 1), **counts,
            "alarm_features": dict(alarm_features), "drift_features": dict(drift_features)}


def jobs_for(events_per_job: int, jobs: int, generators: list[str]) -> list[tuple[str, int, int, int]]:
    return [(g, 101 + i, 5_000 if i % 2 else 20_000, events_per_job) for g in generators for i in range(jobs)]


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| generator | jobs | events | windows | alarms / 1M | drifted windows / 1M | drift entries | "
             "retrain requests | requests / 1M |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    groups = sorted({r["generator"] for r in results}) + ["all"]
    for g in groups:
        rs = [r for r in results if g in ("all", r["generator"])]
        ev = sum(r["events"] for r in rs)
        per_m = 1e6 / ev if ev else 0.0
        tot = {k: sum(r.get(k, 0) for r in rs) for k in ("windows", "alarms", "drifted_windows", "drift_entries",
                                                         "requests")}
        lines.append(f"| {g} | {len(rs)} | {ev:,} | {tot['windows']:,} | {tot['alarms'] * per_m:.2f} | "
                     f"{tot['drifted_windows'] * per_m:.2f} | {tot['drift_entries']} | {tot['requests']} | "
                     f"{tot['requests'] * per_m:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events per job")
    p.add_argument("--jobs", type=int, default=10, help="jobs (seeds) per generator")
    p.add_argument("--generators", default="demo,random", help="comma-separated: demo, random")
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--jsonl", type=Path, default=None, help="also write one line per job here")
    args = p.parse_args(argv)
    jobs = jobs_for(args.events, args.jobs, args.generators.split(","))
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        results = []
        for r in pool.imap_unordered(run_job, jobs):
            results.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    results.sort(key=lambda r: (r["generator"], r["seed"]))
    if args.jsonl is not None:
        args.jsonl.write_text("".join(json.dumps(r) + "\n" for r in results))
    text = "\n".join([
        "# False retrain requests on stationary streams",
        "",
        f"Generated by `{command('benchmarks.false_requests', argv)}` on {when()} ({machine()}), {wall:.0f} s wall.",
        "",
        "Every stream is stationary (drawn from the reference's own process, another seed), so every "
        "retrain request and every drift entry is false. Alarms are the per-event CUSUMs' alarms "
        "(evidence, not decisions). References alternate between 20,000 and 5,000 rows.",
        "",
        table(results),
        "",
        "Per job (generator, seed, reference rows: alarms / drifted windows / requests):",
        "",
        *[f"- {r['generator']} {r['seed']} ({r['reference_rows']:,} rows): {r.get('alarms', 0)} / "
          f"{r.get('drifted_windows', 0)} / {r.get('requests', 0)}" for r in results],
        "",
    ])
    publish(text, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
