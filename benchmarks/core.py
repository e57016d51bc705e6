"""The core's cost per event on a wider model, beside NannyML and Evidently on the same events.

One run measures, on the same events (:mod:`benchmarks.workload` with
``--numeric`` numeric features, default 30, and 5 categorical ones; seed 11):

* stream-monitor's core, in process: :meth:`stream_monitor.pipeline.monitor.Monitor.observe`
  on columnar envelopes of 1,000 events with the default detector suite (after two
  warm-up envelopes: the first window calibrates the thresholds), minus the worker's
  decoder alone on the same envelopes, which is validation; best of three rounds, the
  two steps alternating so that both see the same moments of a shared machine, each round
  without the KS p-values the core kept from the one before (:func:`fresh_statistics`);
* NannyML's univariate drift calculator and Evidently's DataDriftPreset
  (:mod:`benchmarks.peers`, in the peer environment that ``benchmarks.run`` creates).

``python -m benchmarks.core`` writes ``benchmarks/results/core.md`` and the figures
in ``core.json`` beside it; ``--quick`` (``make bench-quick``) measures fewer
events and leaves the peers out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["core_per_event", "fresh_statistics", "main", "measure_core"]

HERE = Path(__file__).resolve().parent
SIZE = 1000
SEED = 11  # the peers' events (benchmarks.peers)
PEERS = ("NannyML", "Evidently")


def _log(msg: str) -> None:
    print(f"[core {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _envelopes(total: int) -> list[bytes]:
    from benchmarks.workload import encoded_events
    from stream_monitor.events import PredictionEvent
    from stream_monitor.events.envelope import encode_columns

    raw = encoded_events(total, seed=SEED)
    out = []
    for lo in range(0, total, SIZE):
        packed = encode_columns([PredictionEvent.model_validate_json(r) for r in raw[lo:lo + SIZE]])
        assert packed is not None
        out.append(packed)
    return out


def fresh_statistics() -> None:
    """Forget the KS p-values of earlier rounds: the core keeps its last answers per window
    statistic, and a round over the same events again would find every one of them."""
    from stream_monitor.detectors.kolmogorov import _kstwo_sf

    _kstwo_sf.cache_clear()


def core_per_event(settings: Any, refs: Any, values: Sequence[bytes]) -> float:
    """Microseconds per event of a fresh monitor's ``observe`` on envelopes of 1,000 events,
    after two warm-up envelopes (the first window calibrates the thresholds), without the KS
    p-values kept from an earlier round over the same events."""
    from stream_monitor.pipeline.monitor import Monitor, SourceRecord

    fresh_statistics()
    mon = Monitor(settings.models, refs, max_message_bytes=settings.limits.max_message_bytes)
    for i, v in enumerate(values[:2]):
        mon.observe([SourceRecord("prediction", v, "t", 0, i)], 0.0)
    t0 = time.perf_counter()
    for i, v in enumerate(values[2:], 2):
        mon.observe([SourceRecord("prediction", v, "t", 0, i)], 0.0)
    return (time.perf_counter() - t0) / (len(values) - 2) / SIZE * 1e6


def measure_core(total: int, rounds: int = 3) -> dict[str, float]:
    """Microseconds per event, best of ``rounds``: the decoder alone and the whole core."""
    import tempfile

    from threadpoolctl import threadpool_limits

    from benchmarks.workload import write_config
    from stream_monitor.config.references import load_references
    from stream_monitor.settings import ServiceSettings
    from stream_monitor.validation import decode

    threadpool_limits(limits=1, user_api="blas")
    values = _envelopes(total)
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings.from_yaml(write_config(Path(tmp)))
        refs = load_references(settings)

    def decoded() -> float:
        t0 = time.perf_counter()
        for v in values:
            decode(v, "prediction", max_bytes=1 << 24)
        return (time.perf_counter() - t0) / total * 1e6

    best = {"decode": float("inf"), "core": float("inf")}
    for _ in range(rounds):
        best["decode"] = min(best["decode"], decoded())
        best["core"] = min(best["core"], core_per_event(settings, refs, values))
    return {**best, "core_without_validation": best["core"] - best["decode"]}


def measure_peers(total: int, numeric: int) -> dict[str, Any]:
    """Microseconds per event of NannyML and Evidently on the same events (their decoding not timed)."""
    from benchmarks.run import _peer_python

    py = _peer_python()
    if py is None:
        return {"error": "peer virtual environment could not be created"}
    proc = subprocess.run(  # noqa: S603 - the peer environment's interpreter, fixed arguments
        [py, "-m", "benchmarks.peers", "--events", str(total), "--only", *PEERS],
        capture_output=True, text=True, cwd=HERE.parent, env={**os.environ, "BENCH_NUMERIC_FEATURES": str(numeric)},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": proc.stderr[-500:]}
    out: dict[str, Any] = {}
    for name, r in json.loads(lines[-1]).items():
        out[name] = ({"us_per_event": 1e6 / r["events_per_second"], "events": r["events"]}
                     if r.get("events_per_second") else r)
    return out


def to_markdown(saved: dict[str, Any]) -> str:
    local, peers, numeric = saved["local"], saved.get("peers") or {}, saved["numeric"]
    ours = local["core_without_validation"]
    lines = [
        "# Core cost per event",
        "",
        f"Measured on {saved['measured']} UTC, {os.cpu_count()} cores ({platform.machine()}, {platform.system()}), "
        f"Python {platform.python_version()}, by `{saved['command']}`, in one process (the peers in their own, "
        "one after the other). The machine was shared with other jobs, so the figures are noisy. Events: "
        f"{saved['events']:,} of the benchmark workload with {numeric} numeric and 5 categorical features, the "
        "score, one attribute and the latency; windows of 1,000 events; the default detector suite.",
        "",
        "| | us per event |",
        "| --- | ---: |",
        f"| stream-monitor: the worker's decoder alone (validation), columnar envelopes of 1,000 | "
        f"{local['decode']:.2f} |",
        f"| stream-monitor: the whole core (decoder, windows, detectors, decisions) | {local['core']:.2f} |",
        f"| **stream-monitor core, validation excluded** | **{ours:.2f}** |",
    ]
    for name, r in sorted(peers.items()):
        if isinstance(r, dict) and "us_per_event" in r:
            lines.append(f"| {name} ({r['events']:,} events) | {r['us_per_event']:,.1f} |")
        elif isinstance(r, dict):
            lines.append(f"| {name} | not run: {r.get('error', '?')} |")
    if isinstance(peers.get("error"), str):
        lines.append(f"| peers | not run: {peers['error']} |")
    lines += ["", "Ratios (stream-monitor's core without validation / the peer's cost per event): " + (", ".join(
        f"{name} {ours / r['us_per_event']:.2f}" for name, r in sorted(peers.items())
        if isinstance(r, dict) and "us_per_event" in r) or "no peer measured") + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--numeric", type=int, default=30, help="numeric features (the categorical ones are 5)")
    p.add_argument("--events", type=int, default=None, help="events (default 20,000; quick 10,000)")
    p.add_argument("--quick", action="store_true", help="fewer events, no peers (make bench-quick)")
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--output", default=str(HERE / "results" / "core.md"))
    args = p.parse_args(argv)
    if "benchmarks.workload" in sys.modules:
        raise SystemExit("benchmarks.workload was imported before the feature count was set")
    os.environ["BENCH_NUMERIC_FEATURES"] = str(args.numeric)
    events = args.events or (10_000 if args.quick else 20_000)
    _log(f"stream-monitor core: {events:,} events, {args.numeric} numeric + 5 categorical features")
    saved: dict[str, Any] = {
        "measured": time.strftime("%Y-%m-%d %H:%M"), "events": events, "numeric": args.numeric,
        "command": ("python -m benchmarks.core " + " ".join(argv if argv is not None else sys.argv[1:])).strip(),
        "local": measure_core(events),
    }
    if not (args.quick or args.no_peers):
        _log("peers: NannyML, Evidently")
        saved["peers"] = measure_peers(events, args.numeric)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(saved, indent=1))
    text = to_markdown(saved)
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
