"""Label-path decisions on seeded labelled streams: false alarms when nothing changes,
and how soon a change is requested.

Each job is one stream of the labelled generator (:mod:`stream_monitor.tools.simulate_labels`:
credit-scorer, two inputs, a calibrated score, region north 70 % / south 30 %),
labelled for 80 % of the predictions 60-600 s later (shuffled, 10 % duplicates),
through the label path of the pure core (``OutcomeMonitor``) with the test
configuration (``labelled_model_config``: learned reference, 1,000-pair and
1,000-prediction windows, k = 2). On ``stationary`` streams every breaching
reading, breaching window, drift entry and request is false; on the change
scenarios (change at half the stream) the first request's window is reported.

Reported per scenario: windows judged (pairs and predictions), readings that
breached per kind (and per 1,000 windows of their source), windows that
breached, entries into the drift state, requests and critical requests.

Run ``python -m benchmarks.label_false_alarms`` (``--events`` per seed,
``--seeds``, ``--scenarios``); it prints a markdown table and, with
``--output``, writes it with the date, machine and command.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.provenance import command, machine, publish, when
from stream_monitor.events import LabelEvent, PredictionEvent
from stream_monitor.pipeline.label_monitor import OutcomeMonitor
from stream_monitor.specs.model import ModelSpec
from stream_monitor.tools.simulate_labels import (
    LabelScenario,
    arrival_order,
    generate_labelled,
    label_events,
    labelled_model_config,
)

__all__ = ["main", "run_job"]

CHUNK = 5_000
KINDS = ("performance", "estimate", "concept", "fairness", "representation")


def run_job(scenario: str, seed: int, n: int) -> dict[str, Any]:
    """One seeded stream: counts of what the label path decided on it."""
    spec = ModelSpec.model_validate(labelled_model_config())
    mon = OutcomeMonitor(spec)
    change = n // 2
    pairs = list(generate_labelled(LabelScenario(kind=scenario, change_at=change, seed=seed), n))  # type: ignore[arg-type]
    events, truth = [p for p, _ in pairs], [t for _, t in pairs]
    labs = label_events(events, truth, coverage=0.8, duplicate_rate=0.1, seed=seed)
    order = arrival_order(events, labs)
    counts: Counter[str] = Counter()
    previous: dict[str, str] = {}
    first_request: float | None = None
    t_change = LabelScenario().start_time + change / LabelScenario().events_per_second
    for start in range(0, len(order), CHUNK):
        batch = [PredictionEvent.model_validate(e) if k == "prediction" else LabelEvent.model_validate(e)
                 for k, e in order[start:start + CHUNK]]
        out = mon.observe(batch)
        for req in out.requests:
            counts["requests"] += 1
            counts["critical"] += req.severity == "critical"
            if first_request is None:
                first_request = req.created_at
        for r in out.reports:
            counts[f"windows_{r.source}"] += 1
            counts[f"breached_{r.source}"] += r.model_drift
            for x in r.readings:
                counts[f"readings_{x.kind}"] += 1
                counts[f"breach_{x.kind}"] += x.drift
            if r.state.value == "drift" and previous.get(r.source) != "drift":
                counts["drift_entries"] += 1
            previous[r.source] = r.state.value
    delay = None if first_request is None else round(first_request - t_change, 1)
    return {"scenario": scenario, "seed": seed, "events": n, **counts, "first_request_after_change_s": delay}


def table(results: list[dict[str, Any]]) -> str:
    head = ("| scenario | seeds | predictions | pair / prediction windows | breaching readings "
            "(performance, estimate, concept, fairness, representation) | breaching windows | drift entries "
            "| requests (critical) | first request after the change (s, per seed) |")
    lines = [head, "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for sc in dict.fromkeys(r["scenario"] for r in results):
        rs = [r for r in results if r["scenario"] == sc]
        tot: Counter[str] = Counter()
        for r in rs:
            tot.update({k: v for k, v in r.items() if isinstance(v, int) and k != "seed"})
        breaches = ", ".join(f"{tot[f'breach_{k}']}/{tot[f'readings_{k}']}" for k in KINDS)
        firsts = [r["first_request_after_change_s"] for r in rs]
        delays = ", ".join("-" if d is None else f"{d:.0f}" for d in firsts)
        breached = tot["breached_pairs"] + tot["breached_predictions"]
        lines.append(f"| {sc} | {len(rs)} | {tot['events']:,} | {tot['windows_pairs']:,} / "
                     f"{tot['windows_predictions']:,} | {breaches} | {breached}"
                     f" | {tot['drift_entries']} | {tot['requests']} ({tot['critical']}) | {delays} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=100_000, help="predictions per seed")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--scenarios", default="stationary", help="comma-separated: stationary, concept, fairness, "
                   "representation")
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args(argv)
    t0 = time.time()
    results = [run_job(sc, 301 + i, args.events) for sc in args.scenarios.split(",") for i in range(args.seeds)]
    cmd = command("benchmarks.label_false_alarms", argv)
    publish(f"# Label-path decisions on seeded labelled streams\n\nGenerated by `{cmd}` on {when()} "
            f"({machine()}), {time.time() - t0:.0f} s wall.\n\n{table(results)}\n", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
