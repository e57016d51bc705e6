"""``stream_monitor.compare()`` and Evidently's DataDriftPreset on the same DataFrames.

Two DataFrames of ``--rows`` rows each (reference and current; 4 numeric and 3
categorical features, some changed, one changed only slightly) are generated
from fixed seeds by :func:`frames`, in each process: the stream-monitor half
runs in the main environment, the Evidently half in the peer virtual
environment of :mod:`benchmarks.run` (``benchmarks/.peer-venv``, evidently 0.7.x,
created on first use). Both halves print a hash of the frames' values; the run
stops if they differ.

Each half runs in a fresh process: it builds the frames, runs once on 2,000 rows
(imports, first-call caches), then times one run on the full frames and reads
the process's peak resident memory (``ru_maxrss``) before and after it.

Run: ``python -m benchmarks.compare_evidently [--rows 100000]``; writes
``benchmarks/results/compare.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CHANGES", "frames", "main"]

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "compare.md"
# What changed between reference and current, per feature (the ground truth of the table).
CHANGES = {
    "amount": "changed: log-mean +0.15",
    "age": "unchanged",
    "balance": "changed: sd x1.3, same mean",
    "latency": "slight: mean +2%",
    "country": "changed: new mix of 6 countries",
    "device": "unchanged",
    "plan": "slight: shares moved by 1-2 points",
}


def frames(rows: int) -> tuple[Any, Any]:
    """The reference and current DataFrames (same seeds, same values in every environment)."""
    import pandas as pd

    def one(seed: int, current: bool) -> Any:
        rng = np.random.default_rng(seed)
        countries = ["de", "fr", "us", "uk", "es", "it"]
        mix = [0.3, 0.2, 0.2, 0.1, 0.1, 0.1] if not current else [0.2, 0.2, 0.25, 0.1, 0.15, 0.1]
        plans = [0.40, 0.30, 0.20, 0.10] if not current else [0.38, 0.31, 0.20, 0.11]
        return pd.DataFrame({
            "amount": rng.lognormal(3.0 + (0.15 if current else 0.0), 0.5, rows),
            "age": rng.normal(40.0, 10.0, rows),
            "balance": rng.normal(1000.0, 200.0 * (1.3 if current else 1.0), rows),
            "latency": rng.exponential(50.0 * (1.02 if current else 1.0), rows),
            "country": rng.choice(countries, rows, p=mix),
            "device": rng.choice(["ios", "android", "web"], rows, p=[0.3, 0.5, 0.2]),
            "plan": rng.choice(["free", "basic", "pro", "team"], rows, p=plans),
        })

    return one(101, False), one(202, True)


def _fingerprint(*dfs: Any) -> str:
    h = hashlib.sha256()
    for df in dfs:
        for name in df.columns:
            h.update(name.encode())
            h.update(repr(df[name].tolist()).encode())
    return h.hexdigest()[:16]


def _stream_monitor(ref: Any, cur: Any) -> dict[str, dict[str, Any]]:
    import stream_monitor

    result = stream_monitor.compare(ref, cur)
    out: dict[str, dict[str, Any]] = {}
    for r in result.readings:
        if r.detector == "missing_rate":
            continue
        entry = out.setdefault(r.feature, {"drift": False, "tests": []})
        entry["drift"] = entry["drift"] or r.feature in result.drifted_features
        entry["tests"].append(f"{r.detector} {r.value:.3g}{'*' if r.drift else ''}")
    return out


def _evidently(ref: Any, cur: Any) -> dict[str, dict[str, Any]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in ref.columns if ref[c].dtype.kind == "f"]
    definition = DataDefinition(numerical_columns=numeric,
                                categorical_columns=[c for c in ref.columns if c not in numeric])
    snap = Report([DataDriftPreset()]).run(current_data=Dataset.from_pandas(cur, data_definition=definition),
                                           reference_data=Dataset.from_pandas(ref, data_definition=definition))
    out: dict[str, dict[str, Any]] = {}
    for m in snap.dict()["metrics"]:
        cfg = m["config"]
        if not cfg["type"].endswith("ValueDrift"):
            continue
        value, threshold, method = float(m["value"]), float(cfg["threshold"]), str(cfg["method"])
        # Evidently: p-value tests drift below the threshold, distances at or above it
        drift = value < threshold if "p_value" in method else value >= threshold
        out[cfg["column"]] = {"drift": drift, "tests": [f"{method} {value:.3g} (threshold {threshold:g})"]}
    return out


def _half(which: str, rows: int, repeat: int) -> dict[str, Any]:
    run = _stream_monitor if which == "stream-monitor" else _evidently
    ref, cur = frames(rows)
    small_ref, small_cur = frames(2000)
    run(small_ref, small_cur)  # imports and first-call caches, not timed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    walls, cpus, verdicts = [], [], {}
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        verdicts = run(ref, cur)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"fingerprint": _fingerprint(ref, cur), "seconds": float(np.median(walls)), "walls": walls,
            "cpu_seconds": float(np.median(cpus)), "peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024,
            "verdicts": verdicts}


def _run_half(python: str, which: str, rows: int, repeat: int) -> dict[str, Any]:
    proc = subprocess.run([python, "-m", "benchmarks.compare_evidently", "--half", which,  # noqa: S603
                           "--rows", str(rows), "--repeat", str(repeat)],
                          capture_output=True, text=True, cwd=HERE.parent, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{which} half failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def to_markdown(rows: int, sm: dict[str, Any], ev: dict[str, Any], command: str, repeat: int) -> str:
    def yes(v: dict[str, Any] | None) -> str:
        return "&ndash;" if v is None else ("**drift**" if v["drift"] else "no drift")

    lines = [
        "# `compare()` and Evidently's DataDriftPreset on the same DataFrames", "",
        f"Measured {datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"2 cores shared with other work. Command: `{command}`.", "",
        f"{rows:,} reference rows against {rows:,} current rows, 4 numeric and 3 categorical features "
        f"(`benchmarks/compare_evidently.py`, fixed seeds; both sides hashed the same frames: "
        f"`{sm['fingerprint']}`). Each side in a fresh process, after a 2,000-row warm-up run, "
        f"{repeat} timed runs (median); "
        "stream-monitor with no configuration (types inferred, default detectors and policy), "
        "Evidently 0.7 with `DataDriftPreset()` defaults.", "",
        "| feature | what changed | stream-monitor | tests (* fired) | Evidently | test (value, threshold) |",
        "|---|---|---|---|---|---|",
    ]
    for feature, change in CHANGES.items():
        s, e = sm["verdicts"].get(feature), ev["verdicts"].get(feature)
        lines.append(f"| {feature} | {change} | {yes(s)} | {', '.join(s['tests']) if s else ''} | {yes(e)} | "
                     f"{', '.join(e['tests']) if e else ''} |")
    def drift(side: dict[str, Any], f: str) -> bool | None:
        v = side["verdicts"].get(f)
        return None if v is None else bool(v["drift"])

    differ = [f for f in CHANGES if drift(sm, f) != drift(ev, f)]
    mv = sm["verdicts"].get("__multivariate__")
    if mv:
        lines.append(f"| all numeric (multivariate) | | {yes(mv)} | {', '.join(mv['tests'])} | &ndash; | |")
    lines += [
        "", "| | stream-monitor `compare()` | Evidently DataDriftPreset |", "|---|---|---|",
        f"| wall time (median of {repeat}) | {sm['seconds']:.1f} s | {ev['seconds']:.1f} s |",
        f"| CPU time of the process (median) | {sm['cpu_seconds']:.1f} s | {ev['cpu_seconds']:.1f} s |",
        f"| peak resident memory of the process | {sm['peak_rss_mb']:.0f} MB | {ev['peak_rss_mb']:.0f} MB |",
        f"| of which before the run (interpreter, imports, frames) | {sm['rss_before_mb']:.0f} MB | "
        f"{ev['rss_before_mb']:.0f} MB |", "",
        "stream-monitor's time includes encoding every current row as a JSON event and validating it, "
        "as the worker consumes events: `compare()` runs the stream's own code path. Its p-value tests "
        "fire only when the effect size reaches its floor (KS D 0.05, Cohen's w 0.1), and distance "
        "thresholds are calibrated on the reference; Evidently's defaults at this size are the normed "
        "Wasserstein distance (numeric) and the Jensen-Shannon distance (categorical), both at 0.1.", "",
        "Verdicts differ on: " + (", ".join(
            f"{f} (stream-monitor {yes(sm['verdicts'].get(f))}, Evidently {yes(ev['verdicts'].get(f))})"
            for f in differ) or "none") + ".", "",
        "Wall times on this shared machine vary with the other work running on it; CPU time is steadier. "
        f"Every timed run, wall seconds: stream-monitor {', '.join(f'{x:.1f}' for x in sm['walls'])}; "
        f"Evidently {', '.join(f'{x:.1f}' for x in ev['walls'])}.", "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--half", choices=["stream-monitor", "evidently"])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side (the median is reported)")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.half:
        print(json.dumps(_half(args.half, args.rows, args.repeat)))
        return 0
    from benchmarks.run import _peer_python

    peer = _peer_python()
    if peer is None:
        raise SystemExit("the peer virtual environment (evidently) could not be created")
    sm = _run_half(sys.executable, "stream-monitor", args.rows, args.repeat)
    ev = _run_half(peer, "evidently", args.rows, args.repeat)
    if sm["fingerprint"] != ev["fingerprint"]:
        raise SystemExit(f"the two environments built different frames: {sm['fingerprint']} != {ev['fingerprint']}")
    command = "python -m benchmarks.compare_evidently" + (f" --rows {args.rows}" if args.rows != 100_000 else "")
    command += f" --repeat {args.repeat}" if args.repeat != 3 else ""
    args.output.write_text(to_markdown(args.rows, sm, ev, command, args.repeat), encoding="utf-8")
    print(args.output.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
