"""Goal 4: peak RSS and state size against the number of events, for 1, 10 and 100 models.

The core (:class:`~stream_monitor.pipeline.monitor.Monitor`: validation, windows, every
default detector) is fed batch envelopes of 1,000 events in one process, with no
broker: memory, not throughput, is measured. A pool of envelopes is cycled with
increasing offsets. At each checkpoint the script records the peak RSS
(``VmHWM``), the current RSS and the size of the state snapshot (what the
changelog table stores). Each model count runs in its own process, so every
peak starts fresh.

``python -m benchmarks.memory --models 1 --events 10000000`` prints one JSON
line per checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "memory_section", "run_memory", "targets"]

ONE_MODEL_MB = 100.0  # peak RSS with one model, default suite
PER_MODEL_MB = 1.0  # peak RSS per additional model


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: on Linux that keeps the
    peak of the parent the process was forked from, even across exec."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _written_config(directory: Path, models: int) -> Path:
    """The benchmark's config and reference profile, written by another process: building
    the profile from its training rows (about 60 MB at its peak) is not the monitor's memory."""
    code = ("import sys; from pathlib import Path; from benchmarks.workload import write_config; "
            "print(write_config(Path(sys.argv[1]), models=int(sys.argv[2])))")
    out = subprocess.run([sys.executable, "-c", code, str(directory), str(models)],  # noqa: S603 - fixed argv
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return Path(out.stdout.strip().splitlines()[-1])


def _measure(models: int, events: int, checkpoints: list[int]) -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_limits

    from benchmarks.workload import encoded_events
    from stream_monitor.config.references import load_references
    from stream_monitor.pipeline.monitor import Monitor, SourceRecord
    from stream_monitor.settings import ServiceSettings
    from stream_monitor.tools.traffic import envelope

    threadpool_limits(limits=1, user_api="blas")  # as the worker does
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings.from_yaml(_written_config(Path(tmp), models))
        references = load_references(settings)
    # The traffic: ten envelopes of 1,000 events of model-000, whatever the model count
    # (each envelope is re-addressed to its model when it is sent, models a step apart in
    # the rotation), so the benchmark's own data (about 7 MB) does not grow with the models
    # it measures.
    pool = [envelope(encoded_events(1000, models=1, seed=7 + i)) for i in range(10)]
    half = envelope(encoded_events(500, seed=3))
    before = _rss_mb()  # the interpreter, the imports, the references and the traffic
    monitor = Monitor(settings.models, references, max_message_bytes=settings.limits.max_message_bytes)

    def addressed(value: bytes, m: int) -> bytes:
        return value.replace(b'"model-000"', f'"model-{m:03d}"'.encode())

    # One model per envelope, as a sidecar next to one model server batches them; models
    # take turns. The first envelope is half a window, so that every checkpoint falls in
    # the middle of open windows (a full-size state).
    for m in range(models):
        monitor.observe([SourceRecord("prediction", addressed(half, m), "bench", 0, m)], now=1.9e9)
    out = []
    done, offset = 500 * models, models
    started = time.process_time()
    marks = sorted(c for c in checkpoints if c <= events)
    while marks:
        k = offset - models
        value = addressed(pool[(k // models + k % models) % len(pool)], k % models)  # models differ
        monitor.observe([SourceRecord("prediction", value, "bench", 0, offset)], now=1.9e9)
        offset += 1
        done += 1000
        if done >= marks[0]:
            marks.pop(0)
            blob = monitor.snapshot()
            state = json.dumps(monitor.to_state(), separators=(",", ":"))
            out.append({
                "models": models,
                "events": done,
                "peak_rss_mb": _peak_rss_mb(),
                "rss_mb": _rss_mb(),
                "rss_before_monitor_mb": before,
                "state_bytes": len(blob),
                "state_json_bytes": len(state),
                "cpu_us_per_event": (time.process_time() - started) / done * 1e6,
            })
            print(json.dumps(out[-1]), flush=True)
    return out


def _chunks(items: list[bytes], size: int) -> list[list[bytes]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def run_memory(models: int, events: int, checkpoints: list[int], python: str = sys.executable) -> list[dict[str, Any]]:
    """Run one model count in a fresh process; return its checkpoints."""
    cmd = [python, "-m", "benchmarks.memory", "--models", str(models), "--events", str(events),
           "--checkpoints", *map(str, checkpoints)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True,  # noqa: S603 - fixed argv
                          cwd=Path(__file__).resolve().parent.parent)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def targets(rows: list[dict[str, Any]]) -> dict[int, list[float]]:
    """Per model count, one figure per run: the peak RSS (MB) for one model, and the peak
    RSS per additional model, ``(peak(m) - peak(1)) / (m - 1)`` within the run, for more."""
    peaks: dict[tuple[int, int], float] = {}  # (run, models) -> the run's peak RSS
    for r in rows:
        key = (r.get("run", 0), r["models"])
        peaks[key] = max(peaks.get(key, 0.0), r["peak_rss_mb"])
    out: dict[int, list[float]] = {}
    for (run, models), peak in sorted(peaks.items()):
        if models == 1:
            out.setdefault(1, []).append(peak)
        elif (run, 1) in peaks:
            out.setdefault(models, []).append((peak - peaks[(run, 1)]) / (models - 1))
    return out


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):,.2f}" + (f" ({min(values):,.2f} - {max(values):,.2f})"
                                                   if len(values) > 1 else "")


def memory_section(rows: list[dict[str, Any]], how: str) -> list[str]:
    """The markdown of one memory part: medians over its runs, then the two targets."""
    runs = len({r.get("run", 0) for r in rows})
    lines = [
        f"## Memory and state, {how}",
        "",
        "In-process core fed envelopes of 1,000 events (one model per envelope, models taking turns); "
        "each model count in a fresh process. State: the compressed snapshot the changelog table stores "
        "(and its JSON size), taken with every window half full. CPU: per event since the start, so the "
        f"first windows' threshold calibration weighs on the early rows. Medians of {runs} run(s).",
        "",
        "| models | events | peak RSS MB | state bytes (zlib) | state bytes (JSON) | CPU us/event |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["models"], r["events"]), []).append(r)
    for (models, events), g in sorted(groups.items()):
        med = {k: statistics.median(r[k] for r in g)
               for k in ("peak_rss_mb", "state_bytes", "state_json_bytes", "cpu_us_per_event")}
        lines.append(f"| {models} | {events:,} | {med['peak_rss_mb']:,.1f} | {med['state_bytes']:,.0f} | "
                     f"{med['state_json_bytes']:,.0f} | {med['cpu_us_per_event']:,.1f} |")
    t = targets(rows)
    if 1 in t:
        met = statistics.median(t[1]) <= ONE_MODEL_MB
        lines += ["", f"Peak RSS with one model: **{_median(t[1])} MB** (target <= {ONE_MODEL_MB:g} MB: "
                  f"{'met' if met else 'not met'})."]
    more = {m: v for m, v in t.items() if m > 1}
    if more:
        worst = max(statistics.median(v) for v in more.values())
        lines.append("Peak RSS per additional model: " + ", ".join(
            f"**{_median(v)} MB** ({m} models against 1)" for m, v in sorted(more.items()))
            + f" (target <= {PER_MODEL_MB:g} MB: {'met' if worst <= PER_MODEL_MB else 'not met'}).")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=1)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--checkpoints", type=int, nargs="+", default=[100_000, 1_000_000, 2_000_000, 5_000_000,
                                                                    10_000_000])
    args = p.parse_args(argv)
    _measure(args.models, args.events, [*args.checkpoints, args.events])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
