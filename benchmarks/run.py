"""``make bench``: the performance suite, written to ``benchmarks/results/performance.md``.

One embedded broker serves every Kafka measurement; the baselines run in the
same session as the worker they are compared with, interleaved run by run, and
each ratio is taken within a run (then its median and range are reported):

1. single-event messages: the full worker against a bare faust agent (same
   faust settings, same ``take_events`` batching) on the same topic;
2. batch envelopes of 1,000 events: the full worker against a bare aiokafka
   consumer that decodes the same envelopes with orjson (and, for context, the
   same consumer validating them with the worker's pydantic decoder only);
3. scale-out: two workers in one group on a two-partition topic against one
   (and, for context, the in-process core in two processes against one);
4. memory: peak RSS and state size after 1M..10M events for 1, 10, 100 models
   (in-process core, no broker; ``--full`` goes to 10M events for all three);
5. latency from sending a drifted window to its retrain request on the topic;
6. the same events through river, Evidently and NannyML (a separate virtual
   environment, ``benchmarks/.peer-venv``, created on first use).

Timings are never asserted anywhere; this script only reports them. See
``benchmarks/results/README.md`` for how to read the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.isolation import isolate, isolated
from benchmarks.memory import memory_section

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".peer-venv"
PEER_PACKAGES = ["evidently>=0.7,<0.8", "pandas<3", "nannyml>=0.13", "river"]


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _summary(values: Sequence[float]) -> dict[str, float]:
    finite = [v for v in values if v == v]  # NaN: a run too fast to measure
    if not finite:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "runs": 0}
    return {"median": statistics.median(finite), "min": min(finite), "max": max(finite), "runs": len(finite)}


def _throughput(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.throughput import Bench, produce
    from benchmarks.workload import encoded_events
    from stream_monitor.tools.traffic import envelope

    bench = Bench()
    runs: dict[str, list[float]] = {k: [] for k in (
        "ceiling_single", "bare_faust", "worker_single", "ceiling_batch", "validate_batch", "worker_batch")}
    try:
        _log(f"broker on {bench.bootstrap}; producing {args.single_events:,} single events "
             f"and {args.batch_events:,} events in envelopes of 1,000")
        single = bench.topics("single", 1)
        produce(bench.bootstrap, single, encoded_events(args.single_events))
        batch = bench.topics("batch", 1)
        envelopes = [envelope(encoded_events(1000, start=i)) for i in range(0, args.batch_events, 1000)]
        produce(bench.bootstrap, batch, envelopes)
        for r in range(args.runs):
            _log(f"run {r + 1}/{args.runs}: goals 1 and 2")
            runs["ceiling_single"].append(bench.ceiling(single, args.single_events, batched=False))
            runs["bare_faust"].append(bench.bare_faust(single, args.single_events))
            runs["worker_single"].append(bench.workers(bench.config("single"), args.single_events))
            runs["ceiling_batch"].append(bench.ceiling(batch, args.batch_events, batched=True))
            runs["validate_batch"].append(bench.ceiling(batch, args.batch_events, batched=True, validate=True))
            runs["worker_batch"].append(bench.workers(bench.config("batch"), args.batch_events))
            _log("  " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in runs.items() if v))
    finally:
        bench.close()
    return {"runs": runs}


def _scale(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.throughput import Bench
    from benchmarks.workload import encoded_events
    from stream_monitor.tools.traffic import envelope

    bench = Bench()
    runs: dict[str, list[float]] = {"one_worker": [], "two_workers": [], "machine_one": [], "machine_two": []}
    cpu: dict[str, list[dict[str, float]]] = {"one_worker": [], "two_workers": []}
    try:
        scale = [envelope(encoded_events(1000, start=i)) for i in range(0, args.scale_events, 1000)]
        for r in range(args.runs):
            _log(f"run {r + 1}/{args.runs}: goal 3 (one, then two workers on two partitions)")
            for key, count in (("one_worker", 1), ("two_workers", 2)):
                prefix = f"scale{r}{count}"
                topic = bench.topics(prefix, 2)
                config = bench.config(prefix, partitions=2)
                runs[key].append(bench.workers(config, args.scale_events, count=count,
                                               produce_after_ready=(topic, scale, 2)))
                cpu[key].append(bench.last_cpu)
            one, two = machine_scaling()
            runs["machine_one"].append(one)
            runs["machine_two"].append(two)
            _log(f"  one {runs['one_worker'][-1]:,.0f}/s, two {runs['two_workers'][-1]:,.0f}/s; "
                 f"the core in-process: one {one:,.0f}/s, two {two:,.0f}/s")
    finally:
        bench.close()
    return {"runs": runs, "cpu": cpu}


_CORE_CHILD = ("import sys; from benchmarks.run import _core_rate; "
               "print(_core_rate(int(sys.argv[1]), lambda: (print('ready', flush=True), sys.stdin.readline())))")


def machine_scaling(events: int = 50_000) -> tuple[float, float]:
    """The machine's own scale-out on the core's work, no broker: events per second of the
    in-process core alone, and of two copies started together (their sum).

    Context for goal 3: two workers cannot scale better than the same work in two
    processes does on this machine (shared caches, a shared host)."""
    def together(count: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", _CORE_CHILD, str(events)],  # noqa: S603
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
                 for _ in range(count)]
        try:
            for p in procs:  # every copy set up before any starts the clock
                assert p.stdout is not None
                if p.stdout.readline().strip() != "ready":
                    raise RuntimeError("core copy failed to start")
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("\n")
                p.stdin.flush()
            return sum(float(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()

    return together(1), together(2)


def _latency(args: argparse.Namespace) -> list[dict[str, float]]:
    """Each window's stage times (``benchmarks.latency``, traced worker)."""
    from benchmarks.latency import measure
    from benchmarks.throughput import Bench

    bench = Bench()
    try:
        _log(f"goal 5: latency, {args.latency_windows} windows")
        return measure(bench, args.latency_windows, trace=True)
    finally:
        bench.close()


def _core_rate(events: int, ready: Callable[[], Any] | None = None) -> float:
    """In-process events per second of the core on the peers' events (envelopes of 1,000).

    ``ready`` is called after the set-up, right before the timed part."""
    import tempfile

    from threadpoolctl import threadpool_limits

    from benchmarks.workload import encoded_events, write_config
    from stream_monitor.config.references import load_references
    from stream_monitor.pipeline.monitor import Monitor, SourceRecord
    from stream_monitor.settings import ServiceSettings
    from stream_monitor.tools.traffic import envelope

    threadpool_limits(limits=1, user_api="blas")
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings.from_yaml(write_config(Path(tmp)))
        refs = load_references(settings)
    evs = encoded_events(events, seed=11)
    values = [envelope(evs[i:i + 1000]) for i in range(0, events, 1000)]
    mon = Monitor(settings.models, refs, max_message_bytes=settings.limits.max_message_bytes)
    mon.observe([SourceRecord("prediction", values[0], "t", 0, 0)], 0.0)  # first window: calibration
    mon.observe([SourceRecord("prediction", values[1], "t", 0, 1)], 0.0)
    if ready is not None:
        ready()
    t0 = time.perf_counter()
    for i, v in enumerate(values, 2):
        mon.observe([SourceRecord("prediction", v, "t", 0, i)], 0.0)
    return events / (time.perf_counter() - t0)


def _peer_python() -> str | None:
    py = PEER_VENV / "bin" / "python"
    if py.exists():
        return str(py)
    _log(f"creating {PEER_VENV} with {', '.join(PEER_PACKAGES)} (once; a few minutes)")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)  # noqa: S603
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True)  # noqa: S603
    except subprocess.CalledProcessError as exc:
        _log(f"peer libraries could not be installed: {exc}")
        return None
    return str(py)


def _peers(events: int) -> dict[str, Any]:
    py = _peer_python()
    out: dict[str, Any] = {}
    if py is None:
        out["error"] = "peer virtual environment could not be created"
    else:
        proc = subprocess.run([py, "-m", "benchmarks.peers", "--events", str(events)],  # noqa: S603
                              capture_output=True, text=True, cwd=HERE.parent)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        out = json.loads(lines[-1]) if lines else {"error": proc.stderr[-500:]}
    out["stream-monitor core"] = {"events": events, "events_per_second": _core_rate(events)}
    return out


def _memory(full: bool, runs: int) -> list[dict[str, Any]]:
    from benchmarks.memory import run_memory

    # make bench keeps to short runs (about 2.5 minutes each); --full takes every model count to 10M events, once.
    plan = {1: 10_000_000, 10: 10_000_000, 100: 10_000_000} if full else {1: 1_000_000, 10: 500_000,
                                                                           100: 150_000}
    out = []
    for run in range(1 if full else runs):
        for models, events in plan.items():
            checkpoints = [c for c in (100_000, 1_000_000, 2_000_000, 5_000_000) if c < events]
            _log(f"goal 4: memory, run {run + 1}, {models} model(s), {events:,} events")
            out.extend({**row, "run": run} for row in run_memory(models, events, checkpoints))
    return out


def _cpu_table(cpu: dict[str, list[dict[str, float]]] | None) -> list[str]:
    """Cores busy during the scale runs: where a second worker's CPU has to come from."""
    if not cpu or not all(cpu.get(k) for k in ("one_worker", "two_workers")):
        return []
    parts = ("workers", "broker", "producer", "machine")

    def med(key: str, part: str) -> str:
        vals = [c[part] for c in cpu[key] if part in c]
        return f"{statistics.median(vals):.2f}" if vals else "-"

    return [
        f"Cores kept busy during the scale runs (median of {len(cpu['one_worker'])}, from `/proc`, the same 10%-90% "
        f"interval as the rates; {os.cpu_count()} cores in all; the producer is the benchmark process sending "
        "the envelopes):",
        "",
        "| run | workers | broker | producer | whole machine |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(f"| {label} | " + " | ".join(med(key, p) for p in parts) + " |"
          for key, label in (("one_worker", "one worker"), ("two_workers", "two workers"))),
        "",
    ]


def _fmt_rate(s: dict[str, float]) -> str:
    return f"{s['median']:,.0f} | {s['min']:,.0f} - {s['max']:,.0f}"


def _fmt_ratio(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} | {s['min']:.2f} - {s['max']:.2f}"


def _ratios(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    return _summary([x / y for x, y in zip(a, b, strict=True)])


def to_markdown(res: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "# Performance benchmark",
        "",
        f"Generated by `make bench` (`python -m benchmarks.run`) on {time.strftime('%Y-%m-%d')}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, the embedded Tansu broker on the same "
        f"machine. Events: JSON predictions of 20 numeric and 5 categorical features (~650 bytes). Rates are "
        f"events per second between 10% and 90% of each run; {args.runs} runs; ratios are taken within a run.",
        "",
    ]
    if "throughput" in res:  # the scale rows when that part ran too (make bench-quick skips it)
        runs = {**res["throughput"]["runs"], **res.get("scale", {}).get("runs", {})}
        s = {k: _summary(v) for k, v in runs.items()}
        g1 = _ratios(runs["worker_single"], runs["bare_faust"])
        g2 = _ratios(runs["worker_batch"], runs["ceiling_batch"])
        scaled = bool(runs.get("one_worker"))
        g3 = _ratios(runs["two_workers"], runs["one_worker"]) if scaled else _summary([])
        lines += [
            "## Throughput",
            "",
            "| measurement | median events/s | range |",
            "| --- | ---: | ---: |",
            f"| bare aiokafka getmany + orjson, single-event messages | {_fmt_rate(s['ceiling_single'])} |",
            "| bare faust agent (worker's settings, take_events), single-event messages | "
            f"{_fmt_rate(s['bare_faust'])} |",
            f"| **stream-monitor worker, single-event messages** | {_fmt_rate(s['worker_single'])} |",
            f"| bare aiokafka getmany + orjson, envelopes of 1,000 | {_fmt_rate(s['ceiling_batch'])} |",
            *([f"| bare aiokafka getmany + the worker's pydantic decoder only, envelopes of 1,000 | "
               f"{_fmt_rate(s['validate_batch'])} |"] if runs.get("validate_batch") else []),
            f"| **stream-monitor worker, envelopes of 1,000** | {_fmt_rate(s['worker_batch'])} |",
            *([f"| one worker, two partitions, envelopes | {_fmt_rate(s['one_worker'])} |",
               f"| two workers, one group, two partitions, envelopes | {_fmt_rate(s['two_workers'])} |"]
              if scaled else []),
            "",
            "| measure | target | median ratio | range | met |",
            "| --- | ---: | ---: | ---: | :---: |",
            f"| worker / bare faust agent, single events | >= 1.00 | {_fmt_ratio(g1)} | "
            f"{'yes' if g1['median'] >= 1.0 else 'no'} |",
            f"| worker / aiokafka+orjson ceiling, row envelopes (the goal is on columnar envelopes: "
            f"columnar.md) | report | {_fmt_ratio(g2)} | - |",
            *([f"| two workers / one worker (the goal is CPU per event: scaleout.md) | report | {_fmt_ratio(g3)} "
               "| - |"] if scaled else []),
            "",
        ]
        if runs.get("validate_batch") and len(runs["validate_batch"]) == len(runs["ceiling_batch"]):
            gv = _ratios(runs["validate_batch"], runs["ceiling_batch"])
            gw = _ratios(runs["worker_batch"], runs["validate_batch"])
            lines += [
                "In context: the same consumer validating the envelopes with the worker's own decoder "
                "(the event contract's pydantic models) and doing nothing else reaches "
                f"**{gv['median']:.2f}** of the orjson ceiling ({gv['min']:.2f} - {gv['max']:.2f}): the most "
                "any monitor that validates the contract with pydantic could reach before windows or "
                f"detectors. The full worker reaches **{gw['median']:.2f}** of that validating ceiling "
                f"({gw['min']:.2f} - {gw['max']:.2f}).",
                "",
            ]
        if scaled and runs.get("machine_one") and len(runs["machine_one"]) == len(runs["one_worker"]):
            gm = _ratios(runs["machine_two"], runs["machine_one"])
            eff = _summary([(w2 / w1) / (m2 / m1) for w2, w1, m2, m1 in zip(
                runs["two_workers"], runs["one_worker"], runs["machine_two"], runs["machine_one"], strict=True)])
            lines += [
                "The machine's own scale-out, for context (no broker, no faust): the in-process core on the "
                "same envelopes, two processes started together against one, measured in each scale run: "
                f"**{gm['median']:.2f}x** ({gm['min']:.2f} - {gm['max']:.2f}; one copy "
                f"{statistics.median(runs['machine_one']):,.0f} events/s). The two-worker ratio is "
                f"**{eff['median']:.0%}** of it ({eff['min']:.0%} - {eff['max']:.0%}).",
                "",
            ]
        lines += _cpu_table(res.get("scale", {}).get("cpu"))
    if res.get("latency_stages"):
        from benchmarks.latency import section

        lines += section(res["latency_stages"])
    for key, how in (("memory", "`make bench`: short runs"),
                     ("memory_full", "10M events per model count")):
        if key not in res:
            continue
        rows = res[key] if key == "memory" else res[key]["rows"]
        if key == "memory_full":
            how += (f" (`python -m benchmarks.run --full --skip throughput scale latency peers`, "
                    f"run on {res[key]['generated']}; kept until the next such run)")
        lines += memory_section(rows, how)
    if "peers" in res:
        peers = res["peers"]
        ours = peers["stream-monitor core"]["events_per_second"]
        lines += [
            "## Side by side",
            "",
            "The same events, in one process each. stream-monitor: the core validating raw envelope bytes, "
            "windows and every default test (KS, PSI, chi2, MMD, calibrated thresholds) on all 25 features "
            "and the score. river: a detector per numeric feature and the score, per event, on decoded dicts "
            "(categorical features not seen). Evidently: DataDriftPreset per window of 1,000. NannyML: "
            "univariate drift (KS, chi2), chunks of 1,000.",
            "",
            "| method | events/s | stream-monitor / method |",
            "| --- | ---: | ---: |",
            f"| stream-monitor core | {ours:,.0f} | 1.00 |",
        ]
        for name, r in peers.items():
            if name in ("stream-monitor core", "error"):
                continue
            if "error" in r:
                lines.append(f"| {name} | not run: {r['error']} | - |")
            else:
                lines.append(f"| {name} | {r['events_per_second']:,.0f} | {ours / r['events_per_second']:,.2f} |")
        if "error" in peers:
            lines.append(f"| peers | not run: {peers['error']} | - |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--single-events", type=int, default=40_000)
    p.add_argument("--batch-events", type=int, default=200_000)
    p.add_argument("--scale-events", type=int, default=300_000)
    p.add_argument("--latency-windows", type=int, default=100)
    p.add_argument("--peer-events", type=int, default=20_000)
    p.add_argument("--full", action="store_true", help="memory to 10M events for 1, 10 and 100 models (long)")
    p.add_argument("--skip", nargs="*", default=[],
                   choices=["throughput", "scale", "latency", "memory", "peers"])
    p.add_argument("--merge", help="results JSON of an earlier run: its parts fill the skipped ones")
    p.add_argument("--output", default=str(HERE / "results" / "performance.md"))
    p.add_argument("--isolate", action="store_true",
                   help="run under real-time scheduling (root): other work's scheduling delays stay out")
    args = p.parse_args(argv)
    if args.isolate:
        isolate()
    started = time.monotonic()
    steps: dict[str, Callable[[], Any]] = {
        "throughput": lambda: _throughput(args),
        "scale": lambda: _scale(args),
        "latency": lambda: _latency(args),
        "peers": lambda: _peers(args.peer_events),
        "memory": lambda: _memory(args.full, args.runs),
    }
    # Import the core once, up front: one consistent version for the whole session.
    import stream_monitor.pipeline.monitor  # noqa: F401

    res: dict[str, Any] = json.loads(Path(args.merge).read_text()) if args.merge else {}
    partial = Path(args.output).with_suffix(".json")
    if "memory_full" not in res and partial.exists():  # the long run is kept until the next --full
        previous = json.loads(partial.read_text())
        if previous.get("memory_full"):
            res["memory_full"] = previous["memory_full"]
            res["timings"] = [t for t in previous.get("timings", []) if t.get("full")]  # and how long it took
    partial.parent.mkdir(parents=True, exist_ok=True)
    for name, step in steps.items():
        if name not in args.skip:
            if name == "memory" and args.full:
                res["memory_full"] = {"generated": time.strftime("%Y-%m-%d"), "rows": step()}
            elif name == "latency":  # seconds to the request (read by goals.py) and each stage
                res["latency_stages"] = step()
                res["latency"] = [r["received"] - r["start"] for r in res["latency_stages"]]
            else:
                res[name] = step()
            partial.write_text(json.dumps(res, indent=1))  # kept if a later step fails
    ran = [name for name in steps if name not in args.skip]
    if ran:  # a merged file keeps the times of the runs its parts came from
        res.setdefault("timings", []).append({"date": time.strftime("%Y-%m-%d %H:%M"), "parts": ran,
                                              "full": args.full, "seconds": round(time.monotonic() - started),
                                              "isolated": isolated()})
    text = to_markdown(res, args) + "".join(
        f"\nTime of `{'--full ' if t['full'] else ''}{' '.join(t['parts'])}` ({t['date']}"
        f"{', under real-time scheduling (--isolate)' if t.get('isolated') else ''}): {t['seconds']:,} s."
        for t in res.get("timings", [])) + "\n"
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
