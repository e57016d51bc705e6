"""The performance goals in one table: goal, figure, baseline, ratio, pass/fail.

Read from the JSON the benchmarks write beside their pages (``performance.json`` of
``benchmarks.run``, ``columnar.json`` of ``benchmarks.columnar``, ``core.json`` of
``benchmarks.core``, ``scaleout.json`` of ``benchmarks.scaleout``), so every figure comes
from a measurement with its own date and command; a goal whose benchmark has not written its
JSON is listed as not measured. ``make bench`` and ``make bench-quick`` end with this table (``goals.md``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.provenance import command, machine, publish, when

__all__ = ["Goal", "goals", "main", "table"]

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Goal:
    goal: str
    target: str
    figure: str = "not measured"
    baseline: str = "-"
    ratio: str = "-"
    met: bool | None = None  # None: reported, no pass/fail (or not measured)
    source: str = "-"


def _load(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _ratios(a: Sequence[float], b: Sequence[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def _p99(values: Sequence[float]) -> float:
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, int(0.99 * len(ranked)))]


def _throughput(perf: dict[str, Any], col: dict[str, Any]) -> list[Goal]:
    out = [Goal("row events, one per message: worker / bare faust agent", ">= 1.00")]
    runs = perf.get("throughput", {}).get("runs", {})
    if runs.get("worker_single") and runs.get("bare_faust"):
        r = _ratios(runs["worker_single"], runs["bare_faust"])
        out[0] = Goal(out[0].goal, out[0].target, f"{statistics.median(runs['worker_single']):,.0f} events/s",
                      f"{statistics.median(runs['bare_faust']):,.0f} events/s", f"{r:.2f}", r >= 1.0, "performance")
    broker = col.get("broker", {})
    worker, rows, cols = broker.get("worker_columns"), broker.get("ceiling_rows"), broker.get("ceiling_columns")
    if not (worker and rows and cols):
        return [*out, Goal("columnar envelopes: worker / row-format ceiling", ">= 0.90 and >= 150,000 events/s"),
                Goal("columnar envelopes: worker / ceiling of the same bytes", "towards 0.50")]
    rate, r_rows, r_cols = statistics.median(worker), _ratios(worker, rows), _ratios(worker, cols)
    return [*out,
            Goal("columnar envelopes: worker / row-format ceiling", ">= 0.90 and >= 150,000 events/s",
                 f"{rate:,.0f} events/s", f"{statistics.median(rows):,.0f} events/s", f"{r_rows:.2f}",
                 r_rows >= 0.9 and rate >= 150_000, "columnar"),
            Goal("columnar envelopes: worker / ceiling of the same bytes", "towards 0.50", f"{rate:,.0f} events/s",
                 f"{statistics.median(cols):,.0f} events/s", f"{r_cols:.2f}", None, "columnar")]


def _core(core: dict[str, Any]) -> Goal:
    numeric = core.get("numeric", 30)
    goal = Goal(f"core cost per event, validation excluded (columnar; {numeric} numeric + 5 categorical; "
                "default suite)", "<= 5 us")
    if "local" not in core:
        return goal
    cost = core["local"]["core_without_validation"]
    peers = {name: r["us_per_event"] for name, r in (core.get("peers") or {}).items()
             if isinstance(r, dict) and "us_per_event" in r and name.split()[0] in ("NannyML", "Evidently")}
    base = "; ".join(f"{name} {us:,.1f} us" for name, us in sorted(peers.items())) or "-"
    nanny = next((us for name, us in peers.items() if name.startswith("NannyML")), None)
    return Goal(goal.goal, goal.target, f"{cost:.1f} us", base,
                f"{cost / nanny:.2f} of NannyML" if nanny else "-", cost <= 5.0, "core")


def _scale(scale: dict[str, Any]) -> Goal:
    goal = Goal("scale-out: CPU per event of 2 and 4 workers / one worker's", "<= 1.15")
    runs = {int(k): v for k, v in scale.get("runs", {}).items()}
    if 1 not in runs or len(runs) < 2:
        return goal
    one = statistics.median(r["cpu_us"] for r in runs[1])
    worst = max(statistics.median(r["cpu_us"] for r in runs[c]) / one for c in runs if c != 1)
    others = ", ".join(f"{c}: {statistics.median(r['cpu_us'] for r in runs[c]):.1f} us" for c in sorted(runs) if c != 1)
    return Goal(goal.goal, goal.target, others, f"1: {one:.1f} us", f"{worst:.2f} (worst)", worst <= 1.15, "scaleout")


def _memory(perf: dict[str, Any]) -> list[Goal]:
    from benchmarks.memory import targets  # per run: one model's peak, each count's RSS per additional model

    per_count = targets(perf.get("memory", []))
    one = Goal("memory: peak RSS, one model", "<= 100 MB")
    per = Goal("memory: per additional model", "<= 1 MB")
    if 1 not in per_count:
        return [one, per]
    peak = statistics.median(per_count[1])
    one = Goal(one.goal, one.target, f"{peak:.1f} MB", met=peak <= 100, source="performance")
    more = {m: statistics.median(v) for m, v in per_count.items() if m > 1}
    if not more:
        return [one, per]
    figs = ", ".join(f"{v:.2f} MB ({m} models)" for m, v in sorted(more.items()))
    return [one, Goal(per.goal, per.target, figs, f"1 model {peak:.1f} MB", "-", max(more.values()) <= 1.0,
                      "performance")]


def _latency(perf: dict[str, Any]) -> Goal:
    goal = Goal("drifted window -> retrain request on the topic, p99", "< 250 ms")
    lat = perf.get("latency") or []
    if not lat:
        return goal
    p99 = _p99(lat)
    return Goal(goal.goal, goal.target, f"{p99 * 1000:,.0f} ms (p50 {statistics.median(lat) * 1000:,.0f} ms, "
                f"{len(lat)} windows)", met=p99 < 0.25, source="performance")


def goals(directory: Path) -> list[Goal]:
    perf, col = _load(directory, "performance.json"), _load(directory, "columnar.json")
    return [*_throughput(perf, col), _core(_load(directory, "core.json")), _scale(_load(directory, "scaleout.json")),
            *_memory(perf), _latency(perf)]


def table(rows: Sequence[Goal]) -> str:
    mark = {True: "pass", False: "**fail**", None: "-"}
    return "\n".join([
        "| goal | target | figure | baseline | ratio | pass/fail | from |",
        "| --- | ---: | ---: | ---: | ---: | :---: | --- |",
        *(f"| {g.goal} | {g.target} | {g.figure} | {g.baseline} | {g.ratio} | "
          f"{'not measured' if g.figure == 'not measured' else mark[g.met]} | {g.source} |" for g in rows),
    ])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=HERE / "results", help="the directory of the benchmarks' JSON")
    p.add_argument("--output", type=Path, default=None, help="default: goals.md in --results")
    args = p.parse_args(argv)
    text = "\n".join([
        "# Performance goals", "",
        f"Generated by `{command('benchmarks.goals', argv)}` on {when()} ({machine()}) from the JSON the "
        "benchmarks wrote beside their pages; each source page (the last column) gives its own date, "
        "command and ranges.", "",
        table(goals(args.results)), "",
    ])
    publish(text, args.output or args.results / "goals.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
